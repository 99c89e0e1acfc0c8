/* hub_verify.c — the two hashes the Hub names files by, through OpenSSL's
 * libcrypto: sha256 of the content (LFS files) and git's blob sha1, the sha1
 * of "blob <size>\0" followed by the content (files kept in git itself). */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

struct hub_hasher {
    EVP_MD_CTX *ctx;
};

hub_hasher *hub_hasher_new(hub_hash_kind kind, int64_t size)
{
    hub_hasher *h = calloc(1, sizeof *h);
    if (!h) { iris_set_error("hash: out of memory"); return NULL; }
    h->ctx = EVP_MD_CTX_new();
    const EVP_MD *md = kind == HUB_HASH_SHA256 ? EVP_sha256() : EVP_sha1();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, md, NULL) != 1) {
        iris_set_error("hash: cannot initialise the digest");
        hub_hasher_free(h);
        return NULL;
    }
    if (kind == HUB_HASH_GIT_SHA1) {
        char head[48];
        int n = snprintf(head, sizeof head, "blob %lld", (long long)size);
        /* The header includes its terminating NUL byte. */
        if (EVP_DigestUpdate(h->ctx, head, (size_t)n + 1) != 1) {
            iris_set_error("hash: digest update failed");
            hub_hasher_free(h);
            return NULL;
        }
    }
    return h;
}

int hub_hasher_update(hub_hasher *h, const void *data, size_t n)
{
    if (EVP_DigestUpdate(h->ctx, data, n) != 1) {
        iris_set_error("hash: digest update failed");
        return -1;
    }
    return 0;
}

int hub_hasher_final(hub_hasher *h, char *hex, size_t hexsize)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || hexsize < 2 * (size_t)n + 1) {
        iris_set_error("hash: digest final failed");
        return -1;
    }
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[2 * n] = 0;
    return 0;
}

void hub_hasher_free(hub_hasher *h)
{
    if (!h) return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

int hub_hash_file(const char *path, hub_hash_kind kind, char *hex, size_t hexsize)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { iris_set_error("%s: %s", path, strerror(errno)); return -1; }
    struct stat st;
    if (fstat(fd, &st) != 0) { iris_set_error("%s: %s", path, strerror(errno)); close(fd); return -1; }
    hub_hasher *h = hub_hasher_new(kind, (int64_t)st.st_size);
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    int rc = -1;
    if (!h || !buf) { if (!buf) iris_set_error("hash: out of memory"); goto out; }
    for (;;) {
        ssize_t r = read(fd, buf, cap);
        if (r < 0) { if (errno == EINTR) continue; iris_set_error("%s: %s", path, strerror(errno)); goto out; }
        if (r == 0) break;
        if (hub_hasher_update(h, buf, (size_t)r) != 0) goto out;
    }
    rc = hub_hasher_final(h, hex, hexsize);
out:
    free(buf);
    hub_hasher_free(h);
    close(fd);
    return rc;
}
