// as_add_header: adds "x-wasmgate-as: <configuration or on>" to every request
// and "x-plugin: as_add_header" to every response, then reads each header
// back to check that the host stored it.
export * from "@solo-io/proxy-runtime/proxy";
import { RootContext, Context, FilterHeadersStatusValues } from "@solo-io/proxy-runtime";
import { HeaderMapTypeValues } from "@solo-io/proxy-runtime/runtime";
import { registerRoot, readPluginConfiguration, addHeaderChecked, logInfo } from "./lib/util";

const REQUEST_HEADER = "x-wasmgate-as";
const RESPONSE_HEADER = "x-plugin";
const RESPONSE_VALUE = "as_add_header";

class AddHeaderRoot extends RootContext {
  value: string = "on";

  createContext(context_id: u32): Context {
    return new AddHeader(context_id, this);
  }

  onConfigure(configuration_size: u32): bool {
    let cfg = readPluginConfiguration(configuration_size);
    // (if/else rather than ?: — asc 0.14 miscounts references when a
    // conditional mixes a string literal with a heap string.)
    if (cfg.length > 0) {
      this.value = cfg;
    } else {
      this.value = "on";
    }
    logInfo("as_add_header: configured, value=" + this.value);
    return true;
  }
}

class AddHeader extends Context {
  constructor(context_id: u32, root: AddHeaderRoot) {
    super(context_id, root);
  }

  onRequestHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    let root = changetype<AddHeaderRoot>(this.root_context);
    addHeaderChecked(HeaderMapTypeValues.RequestHeaders, REQUEST_HEADER, root.value);
    return FilterHeadersStatusValues.Continue;
  }

  onResponseHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    addHeaderChecked(HeaderMapTypeValues.ResponseHeaders, RESPONSE_HEADER, RESPONSE_VALUE);
    return FilterHeadersStatusValues.Continue;
  }
}

registerRoot("add_header", (context_id: u32): RootContext => new AddHeaderRoot(context_id));
