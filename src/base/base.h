/*
 * base.h - the public header of the base layer: small pieces shared by
 * every other layer. Other layers include this header, not the pieces.
 *
 *   log.h      leveled, per-component logging
 *   buf.h      growable byte buffer (wg_buf)
 *   headers.h  ordered multi-map of HTTP headers, Proxy-Wasm pair format
 *   mem.h      allocation helpers for per-request objects
 */
#ifndef WG_BASE_BASE_H
#define WG_BASE_BASE_H

#include "base/buf.h"
#include "base/headers.h"
#include "base/log.h"
#include "base/mem.h"

#endif /* WG_BASE_BASE_H */
