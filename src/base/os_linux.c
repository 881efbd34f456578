/* Linux specifics: clocks, CPU topology, file sizes and atomic file writes. */
#include "base/base.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int64_t ol_time_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Counts distinct (package, core) pairs among the CPUs this process may run on. */
int ol_cpu_physical_cores(void) {
    cpu_set_t set;
    int n_allowed = 0;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) n_allowed = CPU_COUNT(&set);
    if (n_allowed <= 0) n_allowed = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (n_allowed <= 0) n_allowed = 1;

    int keys[1024];
    int n_keys = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n_keys < (int)OL_ARRAY_LEN(keys); cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        char path[128];
        int core = -1, pkg = -1;
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/topology/core_id", cpu);
        FILE *f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%d", &core) != 1) core = -1;
            fclose(f);
        }
        snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/topology/physical_package_id",
                 cpu);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%d", &pkg) != 1) pkg = -1;
            fclose(f);
        }
        if (core < 0) return n_allowed; /* no topology: assume one thread per core */
        int key = pkg * 65536 + core;
        bool seen = false;
        for (int i = 0; i < n_keys; i++)
            seen = seen || keys[i] == key;
        if (!seen) keys[n_keys++] = key;
    }
    return n_keys > 0 ? n_keys : n_allowed;
}

int ol_fd_size(int fd, uint64_t *size, struct ol_err *err) {
    struct stat st;
    if (fstat(fd, &st) < 0) return ol_err_sys(err, OL_EIO, "stat");
    if (!S_ISREG(st.st_mode)) return ol_err_set(err, OL_EINVAL, "not a regular file");
    *size = (uint64_t)st.st_size;
    return 0;
}

int ol_file_read(const char *path, size_t max_len, char **out, size_t *len, struct ol_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ol_err_sys(err, errno == ENOENT ? OL_ENOTFOUND : OL_EIO, "open %s", path);
    uint64_t size;
    int rc = ol_fd_size(fd, &size, err);
    if (rc < 0) goto out_close;
    if (size > max_len) {
        rc = ol_err_set(err, OL_EINVAL, "%s: file too large (%llu bytes)", path,
                        (unsigned long long)size);
        goto out_close;
    }
    char *data = malloc((size_t)size + 1);
    if (!data) {
        rc = ol_err_set(err, OL_ENOMEM, "%s: out of memory", path);
        goto out_close;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, data + got, (size_t)size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            rc = ol_err_sys(err, OL_EIO, "read %s", path);
            free(data);
            goto out_close;
        }
        got += (size_t)r;
    }
    data[got] = 0;
    *out = data;
    if (len) *len = got;
    rc = 0;
out_close:
    close(fd);
    return rc;
}

int ol_write_all(int fd, const void *data, size_t len) {
    const char *p = data;
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

void ol_fsync_dir_of(const char *path) {
    char *dir = ol_strdup(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir)
        *slash = 0;
    else
        strcpy(dir, slash ? "/" : ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int ol_file_atomic_begin(const char *path, char **tmp_out, struct ol_err *err) {
    /* The temp file is unique (mkostemp), so threads writing the same path never clash;
     * a crash leaves at most a ".tmp-*" file beside it, never a half-written target. */
    *tmp_out = NULL;
    const char *slash = strrchr(path, '/');
    size_t dlen = slash ? (size_t)(slash - path) : 1;
    char *tmp = malloc(dlen + 16);
    if (!tmp) return ol_err_set(err, OL_ENOMEM, "out of memory");
    memcpy(tmp, slash ? path : ".", dlen);
    memcpy(tmp + dlen, "/.tmp-XXXXXX", 13);
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0 || fchmod(fd, 0644) < 0) {
        int rc = ol_err_sys(err, OL_EIO, "create %s", tmp);
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return rc;
    }
    *tmp_out = tmp;
    return fd;
}

int ol_file_atomic_end(int fd, char *tmp, const char *path, bool ok, struct ol_err *err) {
    int rc = 0;
    if (!ok || fsync(fd) < 0) {
        rc = ol_err_sys(err, OL_EIO, "write %s", tmp);
        close(fd);
        unlink(tmp);
    } else {
        close(fd);
        if (rename(tmp, path) < 0) {
            rc = ol_err_sys(err, OL_EIO, "rename %s", path);
            unlink(tmp);
        } else {
            ol_fsync_dir_of(path);
        }
    }
    free(tmp);
    return rc;
}

int ol_file_write_atomic(const char *path, const void *data, size_t len, struct ol_err *err) {
    char *tmp;
    int fd = ol_file_atomic_begin(path, &tmp, err);
    if (fd < 0) return fd;
    return ol_file_atomic_end(fd, tmp, path, ol_write_all(fd, data, len) == 0, err);
}
