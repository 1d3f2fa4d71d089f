// as_local_reply: a request carrying an "x-deny" header is answered by the
// plugin with 403, body "denied by as\n" and "x-denied-by: as_local_reply";
// the request is paused (StopIteration) and never reaches the upstream.
// Other requests pass unchanged.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, FilterHeadersStatusValues, FilterDataStatusValues, GrpcStatusValues,
  HeaderPair, Headers, send_local_response,
} from "@solo-io/proxy-runtime";
import { HeaderMapTypeValues } from "@solo-io/proxy-runtime/runtime";
import { registerRoot, getHeader, checkOk, assertFailed, logInfo, utf8 } from "./lib/util";

class LocalReplyRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new LocalReply(context_id, this);
  }
}

class LocalReply extends Context {
  denied: bool = false;

  constructor(context_id: u32, root: LocalReplyRoot) {
    super(context_id, root);
  }

  onRequestHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    let deny = getHeader(HeaderMapTypeValues.RequestHeaders, "x-deny");
    if (deny === null) {
      return FilterHeadersStatusValues.Continue;
    }
    this.denied = true;
    let extra: Headers = [];
    extra.push(new HeaderPair(utf8("x-denied-by"), utf8("as_local_reply")));
    let path = getHeader(HeaderMapTypeValues.RequestHeaders, ":path");
    // Not "path === null ? ... : path": asc 0.14 miscounts references for a
    // conditional that mixes a string literal with a heap string.
    let shown = "?";
    if (path !== null) shown = path;
    logInfo("as_local_reply: denying " + shown + " (x-deny: " + deny + ")");
    checkOk("proxy_send_local_response",
      send_local_response(403, "as_denied", utf8("denied by as\n"), extra, GrpcStatusValues.InvalidCode));
    return FilterHeadersStatusValues.StopIteration;
  }

  onRequestBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    if (this.denied) {
      assertFailed("as_local_reply: request body delivered after the local reply");
    }
    return FilterDataStatusValues.Continue;
  }
}

registerRoot("local_reply", (context_id: u32): RootContext => new LocalReplyRoot(context_id));
