// as_http_call: for every request, dispatches "GET /check" to cluster "auth"
// (:authority auth) and pauses the request. When the call completes:
//   :status 200       -> add "x-auth-status: 200" to the request and resume it
//   any other status  -> local reply 403 "auth denied (<status>)\n"
//   failure (no headers, e.g. reset or no such cluster) -> local reply 503
// The response arrives on the root context; the SDK sets the effective
// context to the paused stream before calling onAuthResponse.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, BaseContext, FilterHeadersStatusValues, GrpcStatusValues,
  HeaderPair, Headers, WasmResultValues, send_local_response, continue_request,
} from "@solo-io/proxy-runtime";
import { BufferTypeValues, HeaderMapTypeValues, get_status } from "@solo-io/proxy-runtime/runtime";
import {
  registerRoot, getHeader, readBuffer, addHeaderChecked, checkOk, assertFailed,
  logInfo, logError, utf8, str,
} from "./lib/util";

const CLUSTER = "auth";
const TIMEOUT_MS: u32 = 5000;

class HttpCallRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new HttpCallFilter(context_id, this);
  }
}

function pair(k: string, v: string): HeaderPair {
  return new HeaderPair(utf8(k), utf8(v));
}

function reply(code: u32, details: string, body: string): void {
  let extra: Headers = [];
  extra.push(pair("x-plugin", "as_http_call"));
  checkOk("proxy_send_local_response(" + code.toString() + ")",
    send_local_response(code, details, utf8(body), extra, GrpcStatusValues.InvalidCode));
}

// AssemblyScript 0.14 has no closures, so the callback is a plain function
// that receives the originating context.
function onAuthResponse(origin: Context, headers: u32, body_size: usize, trailers: u32): void {
  let ctx = changetype<HttpCallFilter>(origin);
  if (!ctx.waiting) {
    assertFailed("as_http_call: auth response for context " + ctx.context_id.toString() +
      " which is not waiting for one");
    return;
  }
  ctx.waiting = false;
  if (ctx.finished) {
    // Stream already ended (or the SDK is cancelling calls at shutdown).
    logInfo("as_http_call: auth response after the stream finished; ignored");
    return;
  }
  if (headers == 0) {
    let st = get_status();
    logError("as_http_call: auth call failed (status " + st.status.toString() + " " +
      str(st.data) + "), replying 503");
    reply(503, "as_auth_failed", "auth call failed\n");
    return;
  }
  let status = getHeader(HeaderMapTypeValues.HttpCallResponseHeaders, ":status");
  if (status === null) {
    assertFailed("as_http_call: auth response has " + headers.toString() + " headers but no :status");
    reply(503, "as_auth_no_status", "auth call failed\n");
    return;
  }
  let body = new ArrayBuffer(0);
  if (body_size > 0) body = readBuffer(BufferTypeValues.HttpCallResponseBody, 0, <u32>body_size);
  if (<usize>body.byteLength != body_size) {
    assertFailed("as_http_call: auth body is " + body.byteLength.toString() +
      " bytes, callback said " + body_size.toString());
  }
  logInfo("as_http_call: auth responded " + status + " with " + body_size.toString() + " body bytes");
  if (status != "200") {
    reply(403, "as_auth_denied", "auth denied (" + status + ")\n");
    return;
  }
  addHeaderChecked(HeaderMapTypeValues.RequestHeaders, "x-auth-status", status);
  checkOk("proxy_continue_stream(request)", continue_request());
}

class HttpCallFilter extends Context {
  waiting: bool = false;
  finished: bool = false;

  constructor(context_id: u32, root: HttpCallRoot) {
    super(context_id, root);
  }

  onRequestHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    let headers: Headers = [];
    headers.push(pair(":method", "GET"));
    headers.push(pair(":path", "/check"));
    headers.push(pair(":authority", "auth"));
    let res = this.root_context.httpCall(CLUSTER, headers, new ArrayBuffer(0), [], TIMEOUT_MS,
      this, onAuthResponse);
    if (res != WasmResultValues.Ok) {
      logError("as_http_call: dispatch to cluster " + CLUSTER + " failed with status " +
        res.toString() + ", replying 503");
      reply(503, "as_auth_dispatch_failed", "auth call failed\n");
      return FilterHeadersStatusValues.StopIteration;
    }
    this.waiting = true;
    return FilterHeadersStatusValues.StopIteration;
  }

  onDone(): bool {
    this.finished = true;
    return true;
  }
}

registerRoot("http_call", (context_id: u32): RootContext => new HttpCallRoot(context_id));
