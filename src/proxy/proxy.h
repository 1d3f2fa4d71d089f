/*
 * proxy.h - the data plane: an HTTP/1.1 proxy that runs the Proxy-Wasm
 * plugin chain.
 *
 * Threads: the main thread runs the admin server, signal handling and the
 * plugin manager; each worker thread runs its own libuv loop with its own
 * listening sockets (SO_REUSEPORT), connections, upstream pools and one
 * VM per plugin. Workers share only compiled modules, shared data/queues
 * and metrics.
 */
#ifndef WASMGATE_PROXY_H
#define WASMGATE_PROXY_H

#include "base/base.h"
#include "config/config.h"

typedef struct wg_proxy wg_proxy;

/* Builds the proxy from a loaded configuration (which must outlive it):
 * binds every listener and the admin address, loads the plugins. NULL with
 * the reasons in errors. */
wg_proxy *wg_proxy_new(const wg_config *config, wg_buf *errors);
/* Serves until SIGTERM or SIGINT, then drains in-flight requests (up to
 * limits.drain_timeout_ms) and returns the process exit code. */
int wg_proxy_run(wg_proxy *proxy);
void wg_proxy_free(wg_proxy *proxy);

#endif
