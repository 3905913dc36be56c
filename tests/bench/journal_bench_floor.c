/*
 * journal_bench_floor — the floor of tests/bench/journal_bench.py: the least
 * any journal reader can do per entry, sd_journal_next() and reading MESSAGE,
 * nothing else.  qqnotify-journal is measured against this rate.
 *
 *     journal_bench_floor [--release-every N] (--file FILE | --directory DIR)
 *
 * --release-every N gives the journal pages back (journal-watch/pages.c, as
 * qqnotify-journal does) every N entries: what keeping a plain reader's
 * resident size small costs.
 *
 * Prints "entries N messages M bytes B" on stdout.  The byte count is
 * printed so the compiler cannot drop the reads.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-journal.h>

#include "pages.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: journal_bench_floor [--release-every N] (--file FILE | --directory DIR)\n");
    return 64;
}

int main(int argc, char **argv)
{
    sd_journal *j = NULL;
    struct jw_pages pages = {.statm_fd = -1};
    unsigned long long entries = 0, messages = 0, bytes = 0, every = 0;
    int r;

    if (argc == 5 && strcmp(argv[1], "--release-every") == 0) {
        char *end = NULL;
        errno = 0;
        every = strtoull(argv[2], &end, 10);
        if (argv[2][0] < '1' || argv[2][0] > '9' || *end != '\0' || errno != 0)
            return usage();
        argv += 2;
        argc -= 2;
    }
    if (argc != 3 || (strcmp(argv[1], "--file") != 0 && strcmp(argv[1], "--directory") != 0))
        return usage();
    if (strcmp(argv[1], "--file") == 0) {
        const char *files[] = {argv[2], NULL};
        r = sd_journal_open_files(&j, files, 0);
    } else {
        r = sd_journal_open_directory(&j, argv[2], 0);
    }
    if (r < 0) {
        fprintf(stderr, "journal_bench_floor: cannot open %s: %s\n", argv[2], strerror(-r));
        return 1;
    }
    for (;;) {
        const void *data;
        size_t len;

        r = sd_journal_next(j);
        if (r < 0) {
            fprintf(stderr, "journal_bench_floor: sd_journal_next: %s\n", strerror(-r));
            sd_journal_close(j);
            return 1;
        }
        if (r == 0)
            break;
        entries++;
        if (sd_journal_get_data(j, "MESSAGE", &data, &len) >= 0) {
            messages++;
            bytes += len;
        }
        if (every > 0 && entries % every == 0 && (r = jw_pages_release(&pages, NULL)) < 0) {
            fprintf(stderr, "journal_bench_floor: /proc/self/maps: %s\n", strerror(-r));
            sd_journal_close(j);
            return 1;
        }
    }
    sd_journal_close(j);
    printf("entries %llu messages %llu bytes %llu\n", entries, messages, bytes);
    return 0;
}
