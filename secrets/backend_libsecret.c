/*
 * The libsecret backend: the freedesktop Secret Service API
 * (https://specifications.freedesktop.org/secret-service/) on the user's
 * D-Bus session bus, through libsecret's synchronous password API.
 *
 * Items carry three attributes, service=smtp, host=H and user=U.  Our
 * schema has SECRET_SCHEMA_DONT_MATCH_NAME, so lookups and deletes match on
 * those attributes alone: an item stored by `secret-tool store
 * --label=L service smtp host H user U` (which has no xdg:schema) is ours
 * too, and `secret-tool lookup service smtp host H user U` finds what we
 * store.
 *
 * Bounds: libsecret's synchronous calls can wait for an unlock prompt for as
 * long as the user leaves it on screen.  Each call here gets a
 * GCancellable and a watchdog thread that cancels it after
 * target->timeout_s, so the program always ends.
 *
 * Secrets: lookups use the "nonpageable" variant, which returns the
 * password in libsecret's locked memory, copied into our locked buffer and
 * released with secret_password_free(), which wipes it.  Copies that D-Bus
 * message buffers inside GLib make are outside our reach (see the session
 * encryption that libsecret negotiates with the service).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libsecret/secret.h>

#include "backend.h"

#define SCHEMA_NAME   "org.qqnotify.Smtp"
#define SERVICE_NAME  "org.freedesktop.secrets"
#define SERVICE_PATH  "/org/freedesktop/secrets"
#define SERVICE_IFACE "org.freedesktop.Secret.Service"
#define ITEM_IFACE    "org.freedesktop.Secret.Item"

static const SecretSchema smtp_schema = {
    .name = SCHEMA_NAME,
    .flags = SECRET_SCHEMA_DONT_MATCH_NAME,
    .attributes =
        {
            {"service", SECRET_SCHEMA_ATTRIBUTE_STRING},
            {"host", SECRET_SCHEMA_ATTRIBUTE_STRING},
            {"user", SECRET_SCHEMA_ATTRIBUTE_STRING},
            {NULL, 0},
        },
};

/* Cancels the pending call when the deadline passes. */
struct watchdog {
    GMutex lock;
    GCond cond;
    bool done;
    gint64 deadline; /* g_get_monotonic_time() units */
    GCancellable *cancel;
    GThread *thread;
};

static gpointer watchdog_main(gpointer data)
{
    struct watchdog *w = data;

    g_mutex_lock(&w->lock);
    while (!w->done) {
        if (!g_cond_wait_until(&w->cond, &w->lock, w->deadline)) {
            if (!w->done)
                g_cancellable_cancel(w->cancel); /* thread-safe by contract */
            break;
        }
    }
    g_mutex_unlock(&w->lock);
    return NULL;
}

static void watchdog_start(struct watchdog *w, unsigned timeout_s)
{
    memset(w, 0, sizeof(*w));
    g_mutex_init(&w->lock);
    g_cond_init(&w->cond);
    w->cancel = g_cancellable_new();
    w->deadline = g_get_monotonic_time() + (gint64)timeout_s * G_TIME_SPAN_SECOND;
    /* Without a thread the D-Bus calls keep their own 25 s timeouts; only a
     * prompt left open could then wait longer. */
    w->thread = g_thread_try_new("qns-watchdog", watchdog_main, w, NULL);
}

static void watchdog_stop(struct watchdog *w)
{
    g_mutex_lock(&w->lock);
    w->done = true;
    g_cond_signal(&w->cond);
    g_mutex_unlock(&w->lock);
    if (w->thread != NULL)
        g_thread_join(w->thread);
    g_object_unref(w->cancel);
    g_cond_clear(&w->cond);
    g_mutex_clear(&w->lock);
}

/* Record STATUS with the sanitised text of a GError as the detail, without
 * GDBus's "GDBus.Error:name: " prefix (kept as "name: " so the service's
 * error name still shows).  Returns STATUS. */
static enum qn_status error_text(const GError *e, const char *what, enum qn_status status,
                                 struct qn_error *err)
{
    gchar *remote = g_dbus_error_get_remote_error(e);
    GError *copy = g_error_copy(e);

    g_dbus_error_strip_remote_error(copy);
    if (remote != NULL)
        qns_fail(err, status, 0, "%s: %s: %s", what, remote, copy->message);
    else
        qns_fail(err, status, 0, "%s: %s", what, copy->message);
    g_error_free(copy);
    g_free(remote);
    return status;
}

/* What a GError from the bus or the Secret Service means. */
static enum qn_status classify(const GError *e)
{
    if (e->domain == G_DBUS_ERROR) {
        switch (e->code) {
        case G_DBUS_ERROR_SERVICE_UNKNOWN:
        case G_DBUS_ERROR_NAME_HAS_NO_OWNER:
        case G_DBUS_ERROR_SPAWN_EXEC_FAILED:
        case G_DBUS_ERROR_SPAWN_FORK_FAILED:
        case G_DBUS_ERROR_SPAWN_CHILD_EXITED:
        case G_DBUS_ERROR_SPAWN_CHILD_SIGNALED:
        case G_DBUS_ERROR_SPAWN_FAILED:
        case G_DBUS_ERROR_SPAWN_SETUP_FAILED:
        case G_DBUS_ERROR_SPAWN_CONFIG_INVALID:
        case G_DBUS_ERROR_SPAWN_SERVICE_INVALID:
        case G_DBUS_ERROR_SPAWN_SERVICE_NOT_FOUND:
        case G_DBUS_ERROR_SPAWN_PERMISSIONS_INVALID:
        case G_DBUS_ERROR_SPAWN_FILE_INVALID:
        case G_DBUS_ERROR_SPAWN_NO_MEMORY:
            return QN_ENOSERVICE;
        case G_DBUS_ERROR_NO_REPLY:
        case G_DBUS_ERROR_TIMEOUT:
        case G_DBUS_ERROR_TIMED_OUT:
            return QN_ETIMEOUT;
        case G_DBUS_ERROR_NO_SERVER:
        case G_DBUS_ERROR_DISCONNECTED:
        case G_DBUS_ERROR_BAD_ADDRESS:
            return QN_ECONNECT;
        default:
            return QN_ESERVICE;
        }
    }
    if (e->domain == SECRET_ERROR) {
        switch (e->code) {
        case SECRET_ERROR_IS_LOCKED:
            return QN_ELOCKED;
        case SECRET_ERROR_NO_SUCH_OBJECT:
            /* Storing into the "default" alias when no collection has it. */
            return QN_ENOKEYRING;
        default:
            return QN_ESERVICE;
        }
    }
    if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
        return QN_ETIMEOUT;
    if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CLOSED))
        return QN_ECONNECT;
    if (g_error_matches(e, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        /* Not our watchdog: the service's unlock prompt was dismissed. */
        return QN_ELOCKED;
    }
    return QN_ESERVICE;
}

/* Record the failure E of WHAT: a timeout when our watchdog cancelled it (only the
 * watchdog cancels, and the cancellable is safe to ask while it still runs), else
 * what E means. */
static enum qn_status map_error(const GError *e, const struct watchdog *w, const char *what,
                                unsigned timeout_s, struct qn_error *err)
{
    if (g_cancellable_is_cancelled(w->cancel))
        return qns_fail(err, QN_ETIMEOUT, 0, "%s: no answer within %u s", what, timeout_s);
    return error_text(e, what, classify(e), err);
}

enum qn_status qns_libsecret_bus(struct qn_error *err)
{
    const char *addr = getenv("DBUS_SESSION_BUS_ADDRESS");
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    char sock[4096];
    gchar *escaped, *value;
    struct stat st;
    int n;

    if (addr != NULL && *addr != '\0')
        return QN_OK;
    /* systemd's user manager runs the session bus at $XDG_RUNTIME_DIR/bus
     * without always exporting the address.  Export it ourselves: left
     * alone, GLib would fall back to autolaunching a new, empty bus. */
    if (runtime != NULL && runtime[0] == '/') {
        n = snprintf(sock, sizeof(sock), "%s/bus", runtime);
        if (n > 0 && (size_t)n < sizeof(sock) && stat(sock, &st) == 0 && S_ISSOCK(st.st_mode)) {
            escaped = g_dbus_address_escape_value(sock);
            value = g_strconcat("unix:path=", escaped, NULL);
            n = setenv("DBUS_SESSION_BUS_ADDRESS", value, 1);
            g_free(value);
            g_free(escaped);
            if (n == 0)
                return QN_OK;
        }
    }
    return qns_fail(err, QN_ENOBUS, 0,
                    "DBUS_SESSION_BUS_ADDRESS is not set and %s/bus does not exist",
                    runtime != NULL && *runtime != '\0' ? runtime : "$XDG_RUNTIME_DIR");
}

/* Connect to the session bus (GLib keeps the connection for libsecret). */
static enum qn_status connect_bus(struct watchdog *w, unsigned timeout_s,
                                  GDBusConnection **ret_conn, struct qn_error *err)
{
    GError *e = NULL;
    GDBusConnection *conn;
    enum qn_status r = qns_libsecret_bus(err);

    if (r != QN_OK)
        return r;
    conn = g_bus_get_sync(G_BUS_TYPE_SESSION, w->cancel, &e);
    if (conn == NULL) {
        r = map_error(e, w, "connect to the session bus", timeout_s, err);
        /* Whatever else it says, the bus did not answer. */
        if (r != QN_ETIMEOUT)
            r = error_text(e, "connect to the session bus", QN_ECONNECT, err);
        g_error_free(e);
        return r;
    }
    *ret_conn = conn;
    return QN_OK;
}

static GHashTable *item_attributes(const struct qns_target *target)
{
    GHashTable *attrs = g_hash_table_new(g_str_hash, g_str_equal);

    /* The table borrows the strings: they outlive every call. */
    g_hash_table_insert(attrs, (gpointer) "service", (gpointer)target->service);
    g_hash_table_insert(attrs, (gpointer) "host", (gpointer)target->host);
    g_hash_table_insert(attrs, (gpointer) "user", (gpointer)target->user);
    return attrs;
}

enum qn_status qns_libsecret_probe(const struct qns_target *target, struct qn_error *err)
{
    struct watchdog w;
    GDBusConnection *conn = NULL;
    GVariant *reply = NULL, *names = NULL;
    GError *e = NULL;
    gboolean owned = FALSE;
    enum qn_status r;
    int timeout_ms = (int)target->timeout_s * 1000;

    watchdog_start(&w, target->timeout_s);
    r = connect_bus(&w, target->timeout_s, &conn, err);
    if (r != QN_OK)
        goto out;
    reply = g_dbus_connection_call_sync(conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "NameHasOwner",
                                        g_variant_new("(s)", SERVICE_NAME), G_VARIANT_TYPE("(b)"),
                                        G_DBUS_CALL_FLAGS_NONE, timeout_ms, w.cancel, &e);
    if (reply == NULL)
        goto fail;
    g_variant_get(reply, "(b)", &owned);
    if (owned)
        goto out;
    /* Not running: D-Bus activation would start it on the first call. */
    g_variant_unref(reply);
    reply = g_dbus_connection_call_sync(conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "ListActivatableNames", NULL,
                                        G_VARIANT_TYPE("(as)"), G_DBUS_CALL_FLAGS_NONE, timeout_ms,
                                        w.cancel, &e);
    if (reply == NULL)
        goto fail;
    names = g_variant_get_child_value(reply, 0);
    for (gsize i = 0; i < g_variant_n_children(names); i++) {
        const gchar *name = NULL;

        g_variant_get_child(names, i, "&s", &name);
        if (g_strcmp0(name, SERVICE_NAME) == 0)
            goto out;
    }
    r = qns_fail(err, QN_ENOSERVICE, 0, "%s is neither running nor activatable", SERVICE_NAME);
    goto out;
fail:
    r = map_error(e, &w, "ask the session bus", target->timeout_s, err);
out:
    if (e != NULL)
        g_error_free(e);
    if (names != NULL)
        g_variant_unref(names);
    if (reply != NULL)
        g_variant_unref(reply);
    if (conn != NULL)
        g_object_unref(conn);
    watchdog_stop(&w);
    return r;
}

/*
 * The matching items, straight from the Secret Service API
 * (Service.SearchItems), split by the service into unlocked and locked
 * object paths.  Used where libsecret's own search falls short: it cannot
 * say whether an item is locked, and its item proxies are leaked by
 * libsecret 0.20 when created from a synchronous call.  Never prompts.
 * Returns the reply "(aoao)" or NULL on any error.
 */
static GVariant *search_items(GDBusConnection *conn, const struct qns_target *target,
                              struct watchdog *w)
{
    GVariantBuilder attrs;

    g_variant_builder_init(&attrs, G_VARIANT_TYPE("a{ss}"));
    g_variant_builder_add(&attrs, "{ss}", "service", target->service);
    g_variant_builder_add(&attrs, "{ss}", "host", target->host);
    g_variant_builder_add(&attrs, "{ss}", "user", target->user);
    return g_dbus_connection_call_sync(conn, SERVICE_NAME, SERVICE_PATH, SERVICE_IFACE,
                                       "SearchItems", g_variant_new("(a{ss})", &attrs),
                                       G_VARIANT_TYPE("(aoao)"), G_DBUS_CALL_FLAGS_NONE,
                                       (int)target->timeout_s * 1000, w->cancel, NULL);
}

/* After a lookup or delete found nothing: locked items, or none at all. */
static enum qn_status nothing_or_locked(GDBusConnection *conn, const struct qns_target *target,
                                        struct watchdog *w, struct qn_error *err)
{
    GVariant *reply = search_items(conn, target, w);
    GVariant *locked;
    gsize n_locked = 0;

    if (reply != NULL) {
        locked = g_variant_get_child_value(reply, 1);
        n_locked = g_variant_n_children(locked);
        g_variant_unref(locked);
        g_variant_unref(reply);
    }
    if (n_locked > 0)
        return qns_fail(err, QN_ELOCKED, 0, "%zu item(s) for %s on %s exist but stay locked",
                        (size_t)n_locked, target->user, target->host);
    return qns_fail(err, QN_ENOTFOUND, 0, "Secret Service");
}

/* The xdg:schema attribute of the item at PATH is ours. */
static bool item_is_ours(GDBusConnection *conn, const char *path, const struct qns_target *target,
                         struct watchdog *w)
{
    GVariant *reply, *value, *attrs;
    const gchar *schema = NULL;
    bool ours;

    reply = g_dbus_connection_call_sync(conn, SERVICE_NAME, path, "org.freedesktop.DBus.Properties",
                                        "Get", g_variant_new("(ss)", ITEM_IFACE, "Attributes"),
                                        G_VARIANT_TYPE("(v)"), G_DBUS_CALL_FLAGS_NONE,
                                        (int)target->timeout_s * 1000, w->cancel, NULL);
    if (reply == NULL)
        return true; /* unknown: leave it alone */
    g_variant_get(reply, "(v)", &value);
    attrs = g_variant_is_of_type(value, G_VARIANT_TYPE("a{ss}")) ? value : NULL;
    if (attrs != NULL)
        g_variant_lookup(attrs, "xdg:schema", "&s", &schema);
    ours = attrs == NULL || g_strcmp0(schema, SCHEMA_NAME) == 0;
    g_variant_unref(value);
    g_variant_unref(reply);
    return ours;
}

/*
 * After storing, delete the items that match our attributes but are not
 * ours (made by secret-tool, without xdg:schema): the service replaces only
 * an item with exactly the same attributes, and lookups could otherwise
 * keep answering with the old code.  Best effort: a failure leaves a stale
 * twin that `secret-tool search` shows.
 */
static void remove_foreign_items(GDBusConnection *conn, const struct qns_target *target,
                                 struct watchdog *w)
{
    GVariant *reply = search_items(conn, target, w);
    GVariant *unlocked;

    if (reply == NULL)
        return;
    unlocked = g_variant_get_child_value(reply, 0);
    for (gsize i = 0; i < g_variant_n_children(unlocked); i++) {
        const gchar *path = NULL;
        GVariant *deleted;

        g_variant_get_child(unlocked, i, "&o", &path);
        if (item_is_ours(conn, path, target, w))
            continue;
        /* Item.Delete answers a prompt path ("/" when none is needed); we
         * never run prompts here, so an item that needs one stays. */
        deleted = g_dbus_connection_call_sync(conn, SERVICE_NAME, path, ITEM_IFACE, "Delete", NULL,
                                              G_VARIANT_TYPE("(o)"), G_DBUS_CALL_FLAGS_NONE,
                                              (int)target->timeout_s * 1000, w->cancel, NULL);
        if (deleted != NULL)
            g_variant_unref(deleted);
    }
    g_variant_unref(unlocked);
    g_variant_unref(reply);
}

enum qn_status qns_libsecret_store(const struct qns_target *target, const char *label,
                                   const struct qn_secret *secret, struct qn_error *err)
{
    struct watchdog w;
    GDBusConnection *conn = NULL;
    GHashTable *attrs = item_attributes(target);
    GError *e = NULL;
    enum qn_status r;

    watchdog_start(&w, target->timeout_s);
    r = connect_bus(&w, target->timeout_s, &conn, err);
    if (r != QN_OK)
        goto out;
    if (!secret_password_storev_sync(&smtp_schema, attrs, SECRET_COLLECTION_DEFAULT, label,
                                     secret->data, w.cancel, &e)) {
        r = map_error(e, &w, "store in the Secret Service", target->timeout_s, err);
        goto out;
    }
    remove_foreign_items(conn, target, &w);
    r = QN_OK;
out:
    if (e != NULL)
        g_error_free(e);
    if (conn != NULL)
        g_object_unref(conn);
    g_hash_table_unref(attrs);
    watchdog_stop(&w);
    return r;
}

enum qn_status qns_libsecret_lookup(const struct qns_target *target, struct qn_secret *ret,
                                    struct qn_error *err)
{
    struct watchdog w;
    GDBusConnection *conn = NULL;
    GHashTable *attrs = item_attributes(target);
    GError *e = NULL;
    gchar *password = NULL;
    enum qn_status r;

    watchdog_start(&w, target->timeout_s);
    r = connect_bus(&w, target->timeout_s, &conn, err);
    if (r != QN_OK)
        goto out;
    password = secret_password_lookupv_nonpageable_sync(&smtp_schema, attrs, w.cancel, &e);
    if (e != NULL) {
        r = map_error(e, &w, "look up in the Secret Service", target->timeout_s, err);
        goto out;
    }
    if (password == NULL || *password == '\0') {
        /* libsecret answers "nothing" both when no item matches and when the
         * matching items stayed locked (unlock prompt dismissed or
         * impossible): tell the two apart. */
        r = nothing_or_locked(conn, target, &w, err);
        goto out;
    }
    if (qn_secret_append(ret, password, strlen(password)) != QN_OK) {
        r = qns_fail(err, QN_ETOOBIG, 0, "the stored secret is longer than %zu bytes", ret->cap);
        goto out;
    }
    r = QN_OK;
out:
    if (password != NULL)
        secret_password_free(password); /* wipes */
    if (e != NULL)
        g_error_free(e);
    if (conn != NULL)
        g_object_unref(conn);
    g_hash_table_unref(attrs);
    watchdog_stop(&w);
    return r;
}

enum qn_status qns_libsecret_erase(const struct qns_target *target, struct qn_error *err)
{
    struct watchdog w;
    GDBusConnection *conn = NULL;
    GHashTable *attrs = item_attributes(target);
    GError *e = NULL;
    enum qn_status r;

    watchdog_start(&w, target->timeout_s);
    r = connect_bus(&w, target->timeout_s, &conn, err);
    if (r != QN_OK)
        goto out;
    if (secret_password_clearv_sync(&smtp_schema, attrs, w.cancel, &e)) {
        r = QN_OK;
        goto out;
    }
    if (e != NULL) {
        r = map_error(e, &w, "delete from the Secret Service", target->timeout_s, err);
        goto out;
    }
    r = nothing_or_locked(conn, target, &w, err);
out:
    if (e != NULL)
        g_error_free(e);
    if (conn != NULL)
        g_object_unref(conn);
    g_hash_table_unref(attrs);
    watchdog_stop(&w);
    return r;
}
