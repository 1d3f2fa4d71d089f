/*
 * status.c - reason phrases (http_parser's table) and the status codes
 * that answer each parse error.
 */
#include "http/internal.h"

#include <http_parser.h>
#include <string.h>

const char *wg_http_reason(int status)
{
    if (status < 100 || status > 999)
        return "";
    const char *s = http_status_str((enum http_status)status);
    return strcmp(s, "<unknown>") == 0 ? "" : s;
}

int wg_http_error_status(wg_http_error_kind kind)
{
    switch (kind) {
    case WG_HTTP_ERR_NONE:
        return 0;
    case WG_HTTP_ERR_HEAD_TOO_LARGE:
        return 431;
    case WG_HTTP_ERR_URI_TOO_LONG:
        return 414;
    case WG_HTTP_ERR_NOT_IMPLEMENTED:
        return 501;
    case WG_HTTP_ERR_VERSION:
        return 505;
    case WG_HTTP_ERR_NO_MEMORY:
        return 500;
    case WG_HTTP_ERR_BAD_REQUEST:
    case WG_HTTP_ERR_INCOMPLETE:
    default:
        return 400;
    }
}
