// as_metrics: defines three metrics in onConfigure
//   counter   as_requests_total       +1 per request
//   gauge     as_active_requests      +1 on request headers, -1 when the stream is done
//   histogram as_request_header_count records the request header count
// and logs "as_metrics: as_requests_total=N as_active_requests=M" (values
// read back with proxy_get_metric) on every request.
export * from "@solo-io/proxy-runtime/proxy";
import {
  RootContext, Context, FilterHeadersStatusValues, WasmResultValues, Counter, Gauge, Histogram,
} from "@solo-io/proxy-runtime";
import { registerRoot, getMetric, checkOk, assertFailed, logInfo } from "./lib/util";

class MetricsRoot extends RootContext {
  // Created in onConfigure (hostcalls are not allowed during module start).
  requests: Counter | null = null;
  active: Gauge | null = null;
  headerCount: Histogram | null = null;

  createContext(context_id: u32): Context {
    return new MetricsFilter(context_id, this);
  }

  onConfigure(configuration_size: u32): bool {
    if (this.requests === null) {
      // The SDK constructors throw (and so abort the VM) if define fails.
      this.requests = new Counter("as_requests_total");
      this.active = new Gauge("as_active_requests");
      this.headerCount = new Histogram("as_request_header_count");
      logInfo("as_metrics: defined as_requests_total=" + this.requests!.metric_id.toString() +
        " as_active_requests=" + this.active!.metric_id.toString() +
        " as_request_header_count=" + this.headerCount!.metric_id.toString());
      let c = getMetric(this.requests!.metric_id);
      if (checkOk("proxy_get_metric(as_requests_total)", c.result) && c.value != 0) {
        // A second plugin instance in the same VM may share the metric; only log.
        logInfo("as_metrics: as_requests_total already at " + c.value.toString());
      }
    }
    return true;
  }
}

class MetricsFilter extends Context {
  counted: bool = false;

  constructor(context_id: u32, root: MetricsRoot) {
    super(context_id, root);
  }

  onRequestHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    let root = changetype<MetricsRoot>(this.root_context);
    if (root.requests === null) {
      assertFailed("as_metrics: request seen before onConfigure defined the metrics");
      return FilterHeadersStatusValues.Continue;
    }
    let requests = root.requests!;
    let active = root.active!;

    let before = getMetric(requests.metric_id);
    checkOk("proxy_increment_metric(as_requests_total)", requests.increment(1));
    checkOk("proxy_increment_metric(as_active_requests)", active.increment(1));
    this.counted = true;
    checkOk("proxy_record_metric(as_request_header_count)",
      root.headerCount!.record(root.headerCount!.metric_id, <u64>count));

    let after = getMetric(requests.metric_id);
    let gauge = getMetric(active.metric_id);
    if (checkOk("proxy_get_metric(as_requests_total)", after.result) &&
        checkOk("proxy_get_metric(as_active_requests)", gauge.result)) {
      if (before.result == WasmResultValues.Ok && after.value <= before.value) {
        assertFailed("as_metrics: as_requests_total went from " + before.value.toString() +
          " to " + after.value.toString() + " after an increment");
      }
      if (<i64>gauge.value < 1) {
        assertFailed("as_metrics: as_active_requests is " + (<i64>gauge.value).toString() +
          " while a request is active");
      }
      logInfo("as_metrics: as_requests_total=" + after.value.toString() +
        " as_active_requests=" + (<i64>gauge.value).toString() +
        " header_count=" + count.toString());
    }
    return FilterHeadersStatusValues.Continue;
  }

  onDone(): bool {
    if (this.counted) {
      let root = changetype<MetricsRoot>(this.root_context);
      checkOk("proxy_increment_metric(as_active_requests, -1)", root.active!.increment(-1));
      this.counted = false;
    }
    return true;
  }
}

registerRoot("metrics", (context_id: u32): RootContext => new MetricsRoot(context_id));
