/* metrics_follow.c — see metrics_follow.h. */
#include "metrics_follow.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

const char *const metrics_field_names[MF_N_FIELDS] = {
    "step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "mem_bytes", "wall_s"};

int metrics_follow_init(metrics_follow *m, const char *path)
{
    memset(m, 0, sizeof *m);
    m->path = strdup(path);
    if (!m->path) {
        iris_set_error("metrics: out of memory");
        return -1;
    }
    m->missing = 1;
    return 0;
}

static void reset_points(metrics_follow *m)
{
    m->n = 0;
    m->offset = 0;
    m->n_partial = 0;
}

void metrics_follow_free(metrics_follow *m)
{
    free(m->path);
    for (int f = 0; f < MF_N_FIELDS; f++) free(m->v[f]);
    free(m->partial);
    memset(m, 0, sizeof *m);
}

int metrics_parse_line(const char *line, size_t len, double vals[MF_N_FIELDS])
{
    for (int f = 0; f < MF_N_FIELDS; f++) vals[f] = NAN;
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' ')) len--;
    if (!len) return 0;
    cJSON *j = cJSON_ParseWithLength(line, len);
    if (!j) return 0;
    int ok = cJSON_IsObject(j), any = 0;
    for (int f = 0; ok && f < MF_N_FIELDS; f++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, metrics_field_names[f]);
        if (cJSON_IsNumber(x)) {
            vals[f] = x->valuedouble;
            any = 1;
        }
    }
    cJSON_Delete(j);
    return ok && any;
}

static int add_point(metrics_follow *m, const double vals[MF_N_FIELDS])
{
    if (m->n == m->cap) {
        int cap = m->cap ? m->cap * 2 : 256;
        for (int f = 0; f < MF_N_FIELDS; f++) {
            double *p = realloc(m->v[f], (size_t)cap * sizeof *p);
            if (!p) {
                iris_set_error("metrics: out of memory");
                return -1;
            }
            m->v[f] = p;
        }
        m->cap = cap;
    }
    for (int f = 0; f < MF_N_FIELDS; f++) m->v[f][m->n] = vals[f];
    m->n++;
    return 0;
}

/* Appends bytes to the partial line buffer. */
static int keep_partial(metrics_follow *m, const char *p, size_t n)
{
    if (m->n_partial + n > (1u << 20)) {   /* a "line" over 1 MiB is garbage: drop it */
        m->n_partial = 0;
        m->bad_lines++;
        return 0;
    }
    char *q = realloc(m->partial, m->n_partial + n + 1);
    if (!q) {
        iris_set_error("metrics: out of memory");
        return -1;
    }
    memcpy(q + m->n_partial, p, n);
    m->partial = q;
    m->n_partial += n;
    return 0;
}

static int take_line(metrics_follow *m, const char *p, size_t n, int *added)
{
    double vals[MF_N_FIELDS];
    const char *line = p;
    size_t len = n;
    if (m->n_partial) {
        if (keep_partial(m, p, n)) return -1;
        line = m->partial;
        len = m->n_partial;
    }
    int ok = metrics_parse_line(line, len, vals);
    m->n_partial = 0;
    if (!ok) {
        if (len) m->bad_lines++;
        return 0;
    }
    if (add_point(m, vals)) return -1;
    (*added)++;
    return 0;
}

int metrics_follow_poll(metrics_follow *m)
{
    int fd = open(m->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        m->missing = 1;   /* keep the points: a deleted run stays on the plot */
        return 0;
    }
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        m->missing = 1;
        return 0;
    }
    int added = 0;
    if (!m->missing && (st.st_ino != m->ino || st.st_dev != m->dev || st.st_size < m->offset)) {
        reset_points(m);   /* replaced or truncated: read it again from the start */
        m->restarted++;
        added = -1;        /* tells the caller the series changed even if empty */
    } else if (m->missing && (m->ino || m->dev)) {
        /* it was there, went away and is back: a new file (even when the
         * inode number is reused) */
        reset_points(m);
        m->restarted++;
    }
    m->missing = 0;
    m->ino = st.st_ino;
    m->dev = st.st_dev;
    if (added < 0) added = 0;
    char buf[65536];
    if (lseek(fd, m->offset, SEEK_SET) < 0) {
        close(fd);
        return 0;
    }
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        m->offset += r;
        size_t start = 0;
        for (size_t i = 0; i < (size_t)r; i++) {
            if (buf[i] != '\n') continue;
            if (take_line(m, buf + start, i - start, &added)) {
                close(fd);
                return -1;
            }
            start = i + 1;
        }
        if (start < (size_t)r && keep_partial(m, buf + start, (size_t)r - start)) {
            close(fd);
            return -1;
        }
    }
    close(fd);
    return added;
}
