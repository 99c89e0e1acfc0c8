#include "file_map.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/error.h"

int iris_map_file(const char *path, void **map, size_t *len)
{
    *map = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        iris_set_error("%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        iris_set_error("%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        iris_set_error("%s: not a regular file", path);
        close(fd);
        return -1;
    }
    if (st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            iris_set_error("%s: mmap: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        *map = m;
        *len = (size_t)st.st_size;
    }
    close(fd); /* the mapping stays valid */
    return 0;
}

void iris_unmap_file(void *map, size_t len)
{
    if (map && len) munmap(map, len);
}
