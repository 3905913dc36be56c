/*
 * journal_bench_floor — the floor of tests/bench/journal_bench.py: the least
 * any journal reader can do per entry, sd_journal_next() and reading MESSAGE,
 * nothing else.  qqnotify-journal is measured against this rate.
 *
 *     journal_bench_floor (--file FILE | --directory DIR)
 *
 * Prints "entries N messages M bytes B" on stdout.  The byte count is
 * printed so the compiler cannot drop the reads.
 */
#include <stdio.h>
#include <string.h>
#include <systemd/sd-journal.h>

int main(int argc, char **argv)
{
    sd_journal *j = NULL;
    unsigned long long entries = 0, messages = 0, bytes = 0;
    int r;

    if (argc != 3 || (strcmp(argv[1], "--file") != 0 && strcmp(argv[1], "--directory") != 0)) {
        fprintf(stderr, "usage: journal_bench_floor (--file FILE | --directory DIR)\n");
        return 64;
    }
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
    }
    sd_journal_close(j);
    printf("entries %llu messages %llu bytes %llu\n", entries, messages, bytes);
    return 0;
}
