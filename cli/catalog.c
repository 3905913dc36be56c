/* qqnotify catalog: every known failure with its cause and fix, as text or
 * as a Markdown table (the README's troubleshooting section is made from it). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "diag_robot.h"

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

static void print_entry(const struct qn_diagnosis *d, bool markdown)
{
    if (markdown) {
        fputs("| ", stdout);
        cell(_(d->when));
        fputs(" | ", stdout);
        cell(_(d->cause));
        fputs(" | ", stdout);
        cell(_(d->fix));
        printf(" | `%s` |\n", d->id);
        return;
    }
    printf("%s\n", d->id);
    printf(_("  symptom: %s\n"), _(d->when));
    printf(_("  cause:   %s\n"), _(d->cause));
    printf(_("  fix:     %s\n\n"), _(d->fix));
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
    if (markdown)
        printf("| %s | %s | %s | id |\n|---|---|---|---|\n", _("symptom"), _("cause"), _("fix"));
    /* The mail part, then the chat robots'. */
    for (int part = 0; part < 2; part++) {
        d = part == 0 ? qn_diag_catalog(&n) : qn_diag_robot_catalog(&n);
        for (size_t i = 0; i < n; i++)
            print_entry(&d[i], markdown);
    }
    return QN_EXIT_OK;
}
