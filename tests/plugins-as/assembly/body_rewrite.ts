// as_body_rewrite: buffers each body until end_of_stream (returning
// StopIterationAndBuffer for earlier chunks), then replaces it:
//   request body  -> the same bytes upper-cased (ASCII)
//   response body -> "as-rewritten: " + the same bytes upper-cased
// Content-Length is removed from the response headers because the response
// length changes. After each replacement the buffer is read back and compared.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, FilterHeadersStatusValues, FilterDataStatusValues,
} from "@solo-io/proxy-runtime";
import { BufferTypeValues, HeaderMapTypeValues } from "@solo-io/proxy-runtime/runtime";
import {
  registerRoot, readBuffer, setBuffer, bufferLength, removeHeader, checkOk, assertFailed,
  logInfo, utf8,
} from "./lib/util";

const RESPONSE_PREFIX = "as-rewritten: ";

function upperCopy(src: ArrayBuffer, prefix: ArrayBuffer): ArrayBuffer {
  let p = prefix.byteLength;
  let out = new ArrayBuffer(p + src.byteLength);
  let o = Uint8Array.wrap(out);
  let s = Uint8Array.wrap(src);
  let pre = Uint8Array.wrap(prefix);
  for (let i = 0; i < p; i++) o[i] = pre[i];
  for (let i = 0; i < s.length; i++) {
    let c = s[i];
    o[p + i] = (c >= 0x61 && c <= 0x7a) ? c - 0x20 : c;
  }
  return out;
}

function sameBytes(a: ArrayBuffer, b: ArrayBuffer): bool {
  if (a.byteLength != b.byteLength) return false;
  return memory.compare(changetype<usize>(a), changetype<usize>(b), a.byteLength) == 0;
}

class BodyRewriteRoot extends RootContext {
  createContext(context_id: u32): Context {
    return new BodyRewrite(context_id, this);
  }
}

class BodyRewrite extends Context {
  requestChunks: u32 = 0;
  responseChunks: u32 = 0;
  lastRequestLength: usize = 0;
  lastResponseLength: usize = 0;

  constructor(context_id: u32, root: BodyRewriteRoot) {
    super(context_id, root);
  }

  // Common body handling. Returns the status for the host.
  rewrite(which: string, typ: BufferTypeValues, length: usize, last: usize,
          end_of_stream: bool, prefix: string, calls: u32): FilterDataStatusValues {
    if (length < last) {
      assertFailed("as_body_rewrite: buffered " + which + " body shrank from " +
        last.toString() + " to " + length.toString() + " bytes");
    }
    let reported = bufferLength(typ);
    if (reported >= 0 && reported != <i64>length) {
      assertFailed("as_body_rewrite: " + which + " buffer status says " + reported.toString() +
        " bytes, callback said " + length.toString());
    }
    if (!end_of_stream) {
      return FilterDataStatusValues.StopIterationAndBuffer;
    }
    let body = readBuffer(typ, 0, <u32>length);
    if (<usize>body.byteLength != length) {
      assertFailed("as_body_rewrite: " + which + " body read returned " +
        body.byteLength.toString() + " bytes, callback said " + length.toString());
    }
    let replacement = upperCopy(body, utf8(prefix));
    // start=0, size=whole length: replace the entire buffered body.
    if (checkOk("proxy_set_buffer_bytes(" + which + ")",
        setBuffer(typ, 0, <u32>body.byteLength, replacement))) {
      let check = readBuffer(typ, 0, <u32>replacement.byteLength + 16);
      if (!sameBytes(check, replacement)) {
        assertFailed("as_body_rewrite: " + which + " body does not read back as the replacement (" +
          check.byteLength.toString() + " bytes, expected " + replacement.byteLength.toString() + ")");
      }
    }
    logInfo("as_body_rewrite: " + which + " body rewritten, " + body.byteLength.toString() +
      " -> " + replacement.byteLength.toString() + " bytes after " + calls.toString() + " body callback(s)");
    return FilterDataStatusValues.Continue;
  }

  onRequestBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    this.requestChunks++;
    let r = this.rewrite("request", BufferTypeValues.HttpRequestBody, body_buffer_length,
      this.lastRequestLength, end_of_stream, "", this.requestChunks);
    this.lastRequestLength = body_buffer_length;
    return r;
  }

  onResponseHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    checkOk("proxy_remove_header_map_value(content-length)",
      removeHeader(HeaderMapTypeValues.ResponseHeaders, "content-length"));
    return FilterHeadersStatusValues.Continue;
  }

  onResponseBody(body_buffer_length: usize, end_of_stream: bool): FilterDataStatusValues {
    this.responseChunks++;
    let r = this.rewrite("response", BufferTypeValues.HttpResponseBody, body_buffer_length,
      this.lastResponseLength, end_of_stream, RESPONSE_PREFIX, this.responseChunks);
    this.lastResponseLength = body_buffer_length;
    return r;
  }
}

registerRoot("body_rewrite", (context_id: u32): RootContext => new BodyRewriteRoot(context_id));
