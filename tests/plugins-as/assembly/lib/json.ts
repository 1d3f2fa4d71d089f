// A deliberately small JSON reader for flat objects whose values are strings,
// e.g. {"header":"x-cfg","value":"v1"}. Nested values, numbers, escapes other
// than \" \\ \/ and duplicate keys are rejected, which is all the test
// plugins need.

export class FlatJson {
  keys: Array<string> = [];
  values: Array<string> = [];
  error: string = "";

  get(key: string): string | null {
    for (let i = 0; i < this.keys.length; i++) {
      if (this.keys[i] == key) return this.values[i];
    }
    return null;
  }
}

class Cursor {
  text: string;
  pos: i32 = 0;

  constructor(text: string) {
    this.text = text;
  }

  skipSpace(): void {
    while (this.pos < this.text.length) {
      let c = this.text.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x09 && c != 0x0a && c != 0x0d) break;
      this.pos++;
    }
  }

  atEnd(): bool {
    return this.pos >= this.text.length;
  }

  peek(): i32 {
    return this.atEnd() ? -1 : this.text.charCodeAt(this.pos);
  }
}

// Returns the string at the cursor (which must be on a quote), or null.
function readString(c: Cursor): string | null {
  if (c.peek() != 0x22) return null;
  c.pos++;
  let out = "";
  let start = c.pos;
  while (!c.atEnd()) {
    let ch = c.text.charCodeAt(c.pos);
    if (ch == 0x22) {
      out += c.text.substring(start, c.pos);
      c.pos++;
      return out;
    }
    if (ch == 0x5c) {
      out += c.text.substring(start, c.pos);
      c.pos++;
      let e = c.peek();
      if (e == 0x22) out += "\"";
      else if (e == 0x5c) out += "\\";
      else if (e == 0x2f) out += "/";
      else return null;
      c.pos++;
      start = c.pos;
      continue;
    }
    if (ch < 0x20) return null;
    c.pos++;
  }
  return null;
}

export function parseFlatJson(text: string): FlatJson {
  let r = new FlatJson();
  let c = new Cursor(text);
  c.skipSpace();
  if (c.peek() != 0x7b) { r.error = "expected '{'"; return r; }
  c.pos++;
  c.skipSpace();
  if (c.peek() == 0x7d) {
    c.pos++;
  } else {
    while (true) {
      c.skipSpace();
      let key = readString(c);
      if (key === null) { r.error = "expected a string key at offset " + c.pos.toString(); return r; }
      c.skipSpace();
      if (c.peek() != 0x3a) { r.error = "expected ':' at offset " + c.pos.toString(); return r; }
      c.pos++;
      c.skipSpace();
      let value = readString(c);
      if (value === null) { r.error = "expected a string value at offset " + c.pos.toString(); return r; }
      if (r.get(key) !== null) { r.error = "duplicate key " + key; return r; }
      r.keys.push(key);
      r.values.push(value);
      c.skipSpace();
      let sep = c.peek();
      c.pos++;
      if (sep == 0x2c) continue;
      if (sep == 0x7d) break;
      r.error = "expected ',' or '}' at offset " + (c.pos - 1).toString();
      return r;
    }
  }
  c.skipSpace();
  if (!c.atEnd()) r.error = "trailing characters at offset " + c.pos.toString();
  return r;
}
