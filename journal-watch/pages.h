/*
 * pages — the journal-file pages sd-journal keeps mapped in this process:
 * how many there are, and giving them back.
 *
 * sd-journal reads journal files through an mmap cache that keeps windows
 * of several MiB mapped per file and never unmaps one while the file is
 * open.  Every page read stays resident in this process, so the RSS of any
 * sd-journal reader grows with the journal it has read (about 400 MB after
 * 1 M entries, floor included).  The pages are the kernel's page cache,
 * shared and reclaimable, but they are what `top` shows, and a watcher that
 * looks like it leaks is a watcher someone kills.  MADV_DONTNEED on a
 * shared read-only file mapping only drops this process's page table
 * entries: the mapping stays valid, the next access faults the page back
 * from the page cache with the same (current) contents, so sd-journal's
 * pointers and behaviour are unchanged.  Only mappings that are shared,
 * not writable and of a *.journal / *.journal~ file are touched.
 *
 * Written here, not taken from a library: no library offers it, and
 * sd-journal has no setting for its cache.
 *
 * Memory: struct jw_pages belongs to the caller; it holds one file
 * descriptor and nothing allocated.  No global state.
 */
#ifndef QN_JW_PAGES_H
#define QN_JW_PAGES_H

#include <stddef.h>

struct jw_pages {
    int statm_fd;   /* /proc/self/statm, or -1 */
    long long base; /* file-backed resident bytes that are the program's own */
    int maps_errno; /* /proc/self/maps could not be opened for good (ENOENT, EACCES) */
};

/* Open /proc/self/statm and take the current file-backed resident size as the
 * base (call it once the journal is open, before reading).  0, or -errno:
 * then jw_pages_mapped() says -1 and the caller must decide by other means
 * (a count of entries) when to call jw_pages_release(). */
int jw_pages_open(struct jw_pages *p);
void jw_pages_close(struct jw_pages *p); /* also on a struct that failed to open */

/* Bytes of journal pages resident now (file-backed resident bytes over the
 * base), or -1 when they cannot be known.  One pread() of /proc/self/statm. */
long long jw_pages_mapped(const struct jw_pages *p);

/* Give back every resident page of the journal files mapped in this process,
 * then take what stays resident as the new base.  Returns the number of
 * mappings given back, or -errno when /proc/self/maps cannot be read (once
 * it could not be opened for lack of /proc or of permission, later calls
 * return that error at once without trying again).  A
 * mapping that madvise() refuses is left as it is; *RET_ERRNO (when not
 * NULL) gets the last such errno, 0 if none. */
int jw_pages_release(struct jw_pages *p, int *ret_errno);

#endif
