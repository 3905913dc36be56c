/* qqnotify catalog: every known failure with its cause and fix, as text or
 * as a Markdown table (the README's troubleshooting section is made from it). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Markdown cells: a '|' would end the cell, a newline the row. */
static void cell(const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '|')
            fputs("\\|", stdout);
        else if (*s == '\n')
            fputc(' ', stdout);
        else
            fputc(*s, stdout);
    }
}

int qn_cmd_catalog(struct qn_cli *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"markdown", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const struct qn_diagnosis *d;
    bool markdown = false;
    size_t n;
    int c;

    (void)cli;
    while ((c = getopt_long(argc, argv, "mh", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            markdown = true;
            break;
        case 'h':
            printf(_("Usage: qqnotify catalog [--markdown]\n"));
            return QN_EXIT_OK;
        default:
            return QN_EXIT_USAGE;
        }
    }
    d = qn_diag_catalog(&n);
    if (markdown) {
        printf("| %s | %s | %s | id |\n|---|---|---|---|\n", _("symptom"), _("cause"), _("fix"));
        for (size_t i = 0; i < n; i++) {
            fputs("| ", stdout);
            cell(_(d[i].when));
            fputs(" | ", stdout);
            cell(_(d[i].cause));
            fputs(" | ", stdout);
            cell(_(d[i].fix));
            printf(" | `%s` |\n", d[i].id);
        }
        return QN_EXIT_OK;
    }
    for (size_t i = 0; i < n; i++) {
        printf("%s\n", d[i].id);
        printf(_("  symptom: %s\n"), _(d[i].when));
        printf(_("  cause:   %s\n"), _(d[i].cause));
        printf(_("  fix:     %s\n\n"), _(d[i].fix));
    }
    return QN_EXIT_OK;
}
