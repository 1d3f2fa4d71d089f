// as_shared: shared data and shared queues.
//  * Shared data: key "as_shared.count" holds a decimal request counter. Each
//    request does get + compare-and-swap set (retrying on CasMismatch) and
//    adds "x-count: <new value>" to the request.
//  * Shared queue: the root context registers "as_shared.paths" in onConfigure
//    (once); each request enqueues its :path; onQueueReady drains the queue
//    and logs "as_shared: dequeued <path>" for every item.
export * from "@solo-io/proxy-runtime/proxy";
import { RootContext, Context, FilterHeadersStatusValues, WasmResultValues } from "@solo-io/proxy-runtime";
import { HeaderMapTypeValues } from "@solo-io/proxy-runtime/runtime";
import {
  registerRoot, getHeader, addHeaderChecked, getSharedData, setSharedData, registerSharedQueue,
  enqueueSharedQueue, dequeueSharedQueue, parseDecimal, checkOk, assertFailed, logInfo, utf8, str,
} from "./lib/util";

const COUNTER_KEY = "as_shared.count";
const QUEUE_NAME = "as_shared.paths";
const MAX_CAS_RETRIES = 16;

class SharedRoot extends RootContext {
  queueToken: u32 = 0;
  queueRegistered: bool = false;
  dequeued: u32 = 0;

  createContext(context_id: u32): Context {
    return new SharedFilter(context_id, this);
  }

  onConfigure(configuration_size: u32): bool {
    if (!this.queueRegistered) {
      let q = registerSharedQueue(QUEUE_NAME);
      if (!checkOk("proxy_register_shared_queue(" + QUEUE_NAME + ")", q.result)) {
        return false;
      }
      this.queueToken = q.token;
      this.queueRegistered = true;
      logInfo("as_shared: registered queue " + QUEUE_NAME + " token " + q.token.toString());
    }
    return true;
  }

  onQueueReady(token: u32): void {
    if (!this.queueRegistered || token != this.queueToken) {
      assertFailed("as_shared: onQueueReady for token " + token.toString() + ", registered token is " +
        this.queueToken.toString());
      return;
    }
    // Drain everything; a later notification may then find the queue empty.
    while (true) {
      let item = dequeueSharedQueue(token);
      if (item.result == WasmResultValues.Empty) break;
      if (!checkOk("proxy_dequeue_shared_queue", item.result)) break;
      this.dequeued++;
      logInfo("as_shared: dequeued " + str(item.data) + " (total " + this.dequeued.toString() + ")");
    }
  }
}

// Increments the shared counter with CAS; returns the new value or -1.
function incrementCounter(): i64 {
  for (let attempt = 0; attempt < MAX_CAS_RETRIES; attempt++) {
    let cur = getSharedData(COUNTER_KEY);
    let n: i64 = 0;
    let cas: u32 = 0;
    if (cur.result == WasmResultValues.Ok) {
      n = parseDecimal(str(cur.value));
      if (n < 0) {
        assertFailed("as_shared: " + COUNTER_KEY + " holds '" + str(cur.value) + "', not a number");
        return -1;
      }
      cas = cur.cas;
      if (cas == 0) {
        assertFailed("as_shared: existing key " + COUNTER_KEY + " came back with cas 0");
      }
    } else if (cur.result != WasmResultValues.NotFound) {
      assertFailed("as_shared: proxy_get_shared_data returned status " + cur.result.toString());
      return -1;
    }
    let next = n + 1;
    let res = setSharedData(COUNTER_KEY, utf8(next.toString()), cas);
    if (res == WasmResultValues.Ok) {
      let after = getSharedData(COUNTER_KEY);
      if (after.result != WasmResultValues.Ok) {
        assertFailed("as_shared: counter unreadable after set, status " + after.result.toString());
      } else {
        let v = parseDecimal(str(after.value));
        if (v < next) {
          assertFailed("as_shared: counter reads " + v.toString() + " after setting " + next.toString());
        }
        if (cas != 0 && after.cas == cas) {
          assertFailed("as_shared: cas did not change after a successful set (" + cas.toString() + ")");
        }
      }
      return next;
    }
    if (res != WasmResultValues.CasMismatch) {
      assertFailed("as_shared: proxy_set_shared_data returned status " + res.toString());
      return -1;
    }
    logInfo("as_shared: cas mismatch, retrying");
  }
  assertFailed("as_shared: gave up after " + MAX_CAS_RETRIES.toString() + " cas mismatches");
  return -1;
}

class SharedFilter extends Context {
  constructor(context_id: u32, root: SharedRoot) {
    super(context_id, root);
  }

  onRequestHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    let root = changetype<SharedRoot>(this.root_context);

    // A stale cas must be refused; run this check before the real update.
    let probe = getSharedData(COUNTER_KEY);
    if (probe.result == WasmResultValues.Ok && probe.cas > 1) {
      let res = setSharedData(COUNTER_KEY, utf8("999999"), probe.cas - 1);
      if (res != WasmResultValues.CasMismatch) {
        assertFailed("as_shared: set with stale cas returned status " + res.toString() +
          ", expected CasMismatch");
      }
    }

    let n = incrementCounter();
    if (n > 0) {
      addHeaderChecked(HeaderMapTypeValues.RequestHeaders, "x-count", n.toString());
    }

    if (!root.queueRegistered) {
      assertFailed("as_shared: request seen before the queue was registered");
    } else {
      let path = getHeader(HeaderMapTypeValues.RequestHeaders, ":path");
      let item = "-";
      if (path !== null) item = path;
      checkOk("proxy_enqueue_shared_queue", enqueueSharedQueue(root.queueToken, utf8(item)));
    }
    return FilterHeadersStatusValues.Continue;
  }
}

registerRoot("shared", (context_id: u32): RootContext => new SharedRoot(context_id));
