/*
 * diag_robot — the chat robots' part of the diagnosis catalog (diag.h):
 * what WeCom, DingTalk and Feishu answer (robot.h puts it into a
 * struct qn_error: http_status, api_code, server_text), and the HTTP, TLS
 * and network failures of their transport (http.h), each with a stable id
 * and a symptom, cause and fix that say where to click and what to run.
 *
 * A data table of its own beside diag.c, which asks it first when the
 * provider is a robot type (route.h: qn_route_type_name()).  A rule may
 * leave a failure to the mail catalog's general rules (an expired
 * certificate reads the same for any server); what no rule takes gets the
 * general verdict fallbacks there.
 *
 * Verdicts and statuses are robot.c's and http.c's; the table only reads
 * them.  rate_limited marks the platforms' frequency answers (WeCom 45009,
 * DingTalk 130101, Feishu 11232, HTTP 429): the queue manager then slows
 * the route down for every message.
 *
 * Static read-only data: thread-safe.
 */
#ifndef QN_DIAG_ROBOT_H
#define QN_DIAG_ROBOT_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

/* True for "wecom", "dingtalk" and "feishu" (ASCII case-insensitive). */
bool qn_diag_robot_provider(const char *provider);

/* The robots' diagnosis for ERR from PROVIDER, or NULL to let the general
 * rules of diag.c decide (also for a provider that is not a robot). */
const struct qn_diagnosis *qn_diag_robot_lookup(const char *provider, const struct qn_error *err);

/* This part of the catalog, in order (after the mail part in `qqnotify catalog`). */
const struct qn_diagnosis *qn_diag_robot_catalog(size_t *ret_count);

#endif
