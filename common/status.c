#include "status.h"
#include "i18n.h"

const char *qn_strerror(enum qn_status status)
{
    switch (status) {
    case QN_OK:
        return N_("success");
    case QN_ENOMEM:
        return N_("out of memory");
    case QN_EINVAL:
        return N_("invalid argument or input");
    case QN_ETOOBIG:
        return N_("size limit exceeded");
    case QN_EIO:
        return N_("local input/output error");
    case QN_ECONFIG:
        return N_("configuration error");
    case QN_ERESOLVE:
        return N_("server name could not be resolved");
    case QN_ECONNECT:
        return N_("could not connect to the server");
    case QN_ETIMEOUT:
        return N_("the server did not answer in time");
    case QN_ETLS:
        return N_("TLS or certificate failure");
    case QN_EPROTO:
        return N_("SMTP protocol error");
    case QN_EAUTH:
        return N_("authentication failed");
    case QN_ETEMPFAIL:
        return N_("temporary failure, retry later");
    case QN_EREJECT:
        return N_("rejected by the server");
    case QN_ENOTFOUND:
        return N_("not found");
    case QN_ECRED:
        return N_("the secret could not be obtained");
    case QN_EEOF:
        return N_("the server closed the connection");
    case QN_ESTARTTLS:
        return N_("STARTTLS is required but not available");
    case QN_ENOBUS:
        return N_("there is no D-Bus session bus");
    case QN_ENOSERVICE:
        return N_("the service or program needed is not available");
    case QN_ENOKEYRING:
        return N_("the keyring service has no default keyring");
    case QN_ELOCKED:
        return N_("the keyring is locked");
    case QN_EPERM:
        return N_("more privileges (root) are needed");
    case QN_ESERVICE:
        return N_("the secret service or its program failed");
    }
    return N_("unknown error");
}
