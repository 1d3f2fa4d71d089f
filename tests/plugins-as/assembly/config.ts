// as_config: the plugin configuration is a JSON object such as
// {"header":"x-cfg","value":"v1"}. onConfigure parses it and rejects
// (returns false) anything else; every request then gets that header.
export * from "@solo-io/proxy-runtime/proxy";
import { RootContext, Context, FilterHeadersStatusValues } from "@solo-io/proxy-runtime";
import { HeaderMapTypeValues } from "@solo-io/proxy-runtime/runtime";
import {
  registerRoot, readPluginConfiguration, addHeaderChecked, assertFailed, logInfo, logError,
} from "./lib/util";
import { parseFlatJson } from "./lib/json";

function validHeaderName(name: string): bool {
  if (name.length == 0) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    let ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x5f;
    if (!ok) return false;
  }
  return true;
}

class ConfigRoot extends RootContext {
  header: string = "";
  value: string = "";
  configured: bool = false;

  createContext(context_id: u32): Context {
    return new ConfigFilter(context_id, this);
  }

  onConfigure(configuration_size: u32): bool {
    let text = readPluginConfiguration(configuration_size);
    let doc = parseFlatJson(text);
    if (doc.error.length > 0) {
      logError("as_config: invalid configuration (" + doc.error + "): " + text);
      return false;
    }
    let header = doc.get("header");
    let value = doc.get("value");
    if (header === null || value === null) {
      logError("as_config: configuration needs string keys \"header\" and \"value\": " + text);
      return false;
    }
    if (!validHeaderName(header)) {
      logError("as_config: bad header name '" + header + "' (lower-case token expected)");
      return false;
    }
    this.header = header;
    this.value = value;
    this.configured = true;
    logInfo("as_config: configured " + this.header + ": " + this.value);
    return true;
  }
}

class ConfigFilter extends Context {
  constructor(context_id: u32, root: ConfigRoot) {
    super(context_id, root);
  }

  onRequestHeaders(count: u32, end_of_stream: bool): FilterHeadersStatusValues {
    let root = changetype<ConfigRoot>(this.root_context);
    if (!root.configured) {
      assertFailed("as_config: request seen although onConfigure never accepted a configuration");
      return FilterHeadersStatusValues.Continue;
    }
    addHeaderChecked(HeaderMapTypeValues.RequestHeaders, root.header, root.value);
    return FilterHeadersStatusValues.Continue;
  }
}

registerRoot("config", (context_id: u32): RootContext => new ConfigRoot(context_id));
