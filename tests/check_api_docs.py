#!/usr/bin/python3
"""check_api_docs.py - docs/API.md must document the public header exactly.

Usage:
    check_api_docs.py [header] [api.md]     check (defaults: include/ncollapse.h
                                            and docs/API.md of this repository;
                                            ncollapse_mpi.h beside ncollapse.h is
                                            checked with it)
    check_api_docs.py --self-test           prove the check can fail

What is checked (Python 3 standard library only):
  - every NC_API function of the header appears in a code block of API.md
    (indented or fenced) with the same prototype, token for token
    (whitespace is ignored, parameter names are compared);
  - API.md declares no nc_ function that the header does not (stale docs);
  - every public type (typedef'd struct handles, enums, function-pointer
    typedefs) is mentioned; a function-pointer typedef must also appear in
    a code block with the same declaration;
  - every enumerator (including those an X-macro list generates) is
    mentioned; in a table row that names it beside an integer, the integer
    is its value, and a status code's row carries its message;
  - every public macro is mentioned; in a table row that names it beside a
    `value` cell, the cell is the macro's value;
  - the header holds no "@@" placeholder.

Exit 0 with a summary line on success, 1 with one line per problem.
The last line is "check_api_docs: N passed, M failed" (one item per
function, type, constant and macro, plus the placeholder and stale checks).
"""

import os
import re
import shutil
import sys
import tempfile

NAME = "check_api_docs"
TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[A-Za-z_]\w*|\d\w*|\.\.\.|\S')
WORD_RE = re.compile(r"[A-Za-z_0-9]")


# ---- text helpers --------------------------------------------------------

def strip_comments(text):
    """Remove /* */ and // comments (string literals kept); newlines kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(" " + "\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def tokens(text):
    return TOKEN_RE.findall(text)


def canon(text):
    """Canonical form: tokens, a space only between two word tokens."""
    out = ""
    prev = ""
    for t in tokens(text):
        if out and WORD_RE.match(prev[-1]) and WORD_RE.match(t[0]):
            out += " "
        out += t
        prev = t
    return out


def pretty(text):
    """Readable one-line form: whitespace collapsed, none inside parentheses."""
    s = " ".join(text.split())
    s = re.sub(r"\(\s+", "(", s)
    s = re.sub(r"\s+([),;])", r"\1", s)
    return s


def split_top(text, sep=","):
    """Split at sep outside parentheses, brackets, braces and strings."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < len(text) and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            cur.append(text[i:j + 1])
            i = j + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


def int_value(expr, known):
    """Value of a small integer expression (literals, + - * / ( ), names in known)."""
    toks = tokens(expr)
    if not toks:
        return None
    out = []
    for t in toks:
        if re.fullmatch(r"\d+[uUlL]*", t):
            out.append(re.sub(r"[uUlL]+$", "", t))
        elif t in known and isinstance(known[t], int):
            out.append("(%d)" % known[t])
        elif t in "+-*/()":
            out.append("//" if t == "/" else t)
        else:
            return None
    try:
        v = eval("".join(out), {"__builtins__": {}}, {})  # digits and operators only
    except Exception:
        return None
    return v if isinstance(v, int) else None


# ---- the header ----------------------------------------------------------

class Header:
    def __init__(self, path, extra=()):
        """path: the header; extra: further headers documented in the same
        reference (each with its own include guard)."""
        self.path = path
        with open(path, encoding="utf-8") as f:
            self.raw = f.read()
        raws = [self.raw]
        for e in extra:
            with open(e, encoding="utf-8") as f:
                raws.append(f.read())
        self.placeholders = [i + 1 for i, line in enumerate(self.raw.splitlines()) if "@@" in line]
        self.macros = {}      # name -> (params or None, body), in order
        undefined = set()
        code_lines = []
        for raw in raws:
            self._scan(raw, code_lines, undefined)
        self._finish(code_lines, undefined)

    def _scan(self, raw, code_lines, undefined):
        text = strip_comments(raw).replace("\\\n", " ")
        guard = None
        prev_ifndef = None
        for line in text.splitlines():
            s = line.strip()
            if not s.startswith("#"):
                code_lines.append(line)
                prev_ifndef = None
                continue
            code_lines.append("")
            d = re.match(r"#\s*(\w+)\s*(.*)$", s)
            if not d:
                continue
            kw, rest = d.group(1), d.group(2)
            if kw == "ifndef":
                prev_ifndef = rest.strip()
                continue
            if kw == "define":
                m = re.match(r"(\w+)(\(([^)]*)\))?\s*(.*)$", rest)
                name = m.group(1)
                params = [p.strip() for p in m.group(3).split(",")] if m.group(2) else None
                if prev_ifndef == name and not m.group(4).strip() and guard is None:
                    guard = name
                elif name not in self.macros:
                    self.macros[name] = (params, m.group(4).strip())
            elif kw == "undef":
                undefined.add(rest.strip())
            prev_ifndef = None

    def _finish(self, code_lines, undefined):
        self.code = "\n".join(code_lines)
        # public macros: everything defined except the include guard and
        # helpers the header #undefs again
        self.public_macros = [m for m in self.macros if m not in undefined]
        self.macro_values = {}
        known = {}
        for m in self.public_macros:
            params, body = self.macros[m]
            if params is not None:
                continue
            if re.fullmatch(r'"(?:[^"\\]|\\.)*"', body):
                self.macro_values[m] = body
            else:
                v = int_value(body, known)
                if v is not None:
                    self.macro_values[m] = v
                    known[m] = v
        self._parse_functions()
        self._parse_types()

    def _parse_functions(self):
        self.functions = {}   # name -> (canonical, pretty)
        self.function_order = []
        for m in re.finditer(r"\bNC_API\b([^;{}]*);", self.code):
            decl = m.group(1)
            name = function_name(decl)
            if name is None:
                continue
            self.functions[name] = (canon(decl), pretty(decl))
            self.function_order.append(name)

    def expand(self, text, depth=0):
        """Expand function-like macros of the header in text (X-macro lists)."""
        if depth > 8:
            return text
        out, pos = [], 0
        for m in re.finditer(r"\b(\w+)\s*\(", text):
            if m.start() < pos:
                continue
            name = m.group(1)
            if name not in self.macros or self.macros[name][0] is None:
                continue
            # find the matching parenthesis
            i, level = m.end(), 1
            while i < len(text) and level:
                if text[i] in "\"'":
                    q = text[i]
                    i += 1
                    while i < len(text) and text[i] != q:
                        i += 2 if text[i] == "\\" else 1
                elif text[i] == "(":
                    level += 1
                elif text[i] == ")":
                    level -= 1
                i += 1
            args = [a.strip() for a in split_top(text[m.end():i - 1])]
            params, body = self.macros[name]
            sub = {p: (args[k] if k < len(args) else "") for k, p in enumerate(params)}
            body = re.sub(r"\b\w+\b", lambda w: sub.get(w.group(0), w.group(0)), body)
            out.append(text[pos:m.start()])
            out.append(self.expand(body, depth + 1))
            pos = i
        out.append(text[pos:])
        return "".join(out)

    def _parse_types(self):
        self.types = []            # names, in order
        self.fnptr_types = {}      # name -> (canonical, pretty)
        self.constants = []        # enumerator names, in order
        self.constant_values = {}  # name -> int (when known)
        self.constant_messages = {}  # name -> message of an X-macro entry
        for m in re.finditer(r"\btypedef\b([^;]*);", self.code):
            decl = "typedef" + m.group(1)
            e = re.match(r"typedef\s+enum\s*(\w*)\s*\{(.*)\}\s*(\w+)\s*$", decl, re.S)
            f = re.match(r"typedef\s+[^()]*\(\s*\*\s*(\w+)\s*\)\s*\(.*\)\s*$", decl, re.S)
            s = re.match(r"typedef\s+(?:struct|union)\s+\w+\s+(\w+)\s*$", decl, re.S)
            o = re.match(r"typedef\s+.*?(\w+)\s*$", decl, re.S)
            if e:
                self.types.append(e.group(3))
                self._parse_enum(e.group(2))
            elif f:
                self.types.append(f.group(1))
                self.fnptr_types[f.group(1)] = (canon(decl), pretty(decl))
            elif s:
                self.types.append(s.group(1))
            elif o:
                self.types.append(o.group(1))
        # messages of X-macro list entries: X(NAME, value, "message")
        for name, (params, body) in self.macros.items():
            if params is None or len(params) != 1:
                continue
            x = params[0]
            for inv in re.finditer(r"\b%s\s*\(" % re.escape(x), body):
                i, level = inv.end(), 1
                while i < len(body) and level:
                    if body[i] == '"':
                        i += 1
                        while i < len(body) and body[i] != '"':
                            i += 2 if body[i] == "\\" else 1
                    elif body[i] == "(":
                        level += 1
                    elif body[i] == ")":
                        level -= 1
                    i += 1
                args = [a.strip() for a in split_top(body[inv.end():i - 1])]
                strings = [a for a in args if re.fullmatch(r'"(?:[^"\\]|\\.)*"', a)]
                if args and re.fullmatch(r"[A-Za-z_]\w*", args[0]) and strings:
                    self.constant_messages[args[0]] = strings[0][1:-1]

    def _parse_enum(self, body):
        body = self.expand(body)
        nxt = 0
        for entry in split_top(body):
            entry = entry.strip()
            if not entry:
                continue
            m = re.match(r"([A-Za-z_]\w*)\s*(?:=\s*(.+))?$", entry, re.S)
            if not m:
                continue
            name = m.group(1)
            value = nxt if m.group(2) is None else int_value(m.group(2), self.constant_values)
            self.constants.append(name)
            if value is not None:
                self.constant_values[name] = value
                nxt = value + 1


def function_name(decl):
    """Name of a function declared by decl, or None."""
    m = re.match(r"\s*(?:NC_API\s+)?([^()]*?)\b([A-Za-z_]\w*)\s*\((.*)\)\s*$", decl, re.S)
    if not m:
        return None
    return m.group(2)


# ---- the reference -------------------------------------------------------

def code_regions(lines):
    """(first line number, text) of each code block: fenced, or indented by
    four spaces (or a tab) after a blank line."""
    regions = []
    i, n = 0, len(lines)
    prev_blank = True
    while i < n:
        line = lines[i]
        if re.match(r"\s*(```|~~~)", line):
            fence = line.strip()[:3]
            start = i + 1
            i += 1
            while i < n and not lines[i].strip().startswith(fence):
                i += 1
            regions.append((start + 1, "\n".join(lines[start:i])))
            i += 1
            prev_blank = False
            continue
        if prev_blank and (line.startswith("    ") or line.startswith("\t")) and line.strip():
            start = i
            while i < n and (lines[i].startswith("    ") or lines[i].startswith("\t")
                             or not lines[i].strip()):
                i += 1
            while i > start and not lines[i - 1].strip():
                i -= 1
            regions.append((start + 1, "\n".join(lines[start:i])))
            prev_blank = False
            continue
        prev_blank = not line.strip()
        i += 1
    return regions


DECL_PREFIX_RE = re.compile(r"^(?:(?:[A-Za-z_]\w*)\s*\**\s*)+$")
NOT_TYPES = {"return", "if", "else", "while", "for", "do", "switch", "case", "sizeof", "goto"}


class Reference:
    def __init__(self, path):
        self.path = path
        with open(path, encoding="utf-8") as f:
            self.text = f.read()
        self.lines = self.text.splitlines()
        self.prototypes = []   # (name, canonical, pretty, line)
        self.typedefs = []     # (name, canonical, pretty, line)
        for first, block in code_regions(self.lines):
            clean = strip_comments(block)
            clean = "\n".join("" if l.strip().startswith("#") else l for l in clean.split("\n"))
            pos = 0
            for stmt in clean.split(";"):
                lead = len(stmt) - len(stmt.lstrip())
                line = first + clean.count("\n", 0, pos + lead)
                pos += len(stmt) + 1
                s = stmt.strip()
                if not s or "{" in s or "}" in s or "=" in s:
                    continue
                if s.startswith("typedef"):
                    f = re.match(r"typedef\s+[^()]*\(\s*\*\s*(\w+)\s*\)\s*\(.*\)\s*$", s, re.S)
                    if f:
                        self.typedefs.append((f.group(1), canon(s), pretty(s), line))
                    continue
                m = re.match(r"(?:NC_API\s+)?([^()]*?)\b(nc_\w+)\s*\((.*)\)$", s, re.S)
                if not m:
                    continue
                prefix = m.group(1).strip()
                if not prefix or not DECL_PREFIX_RE.match(prefix):
                    continue
                if set(re.findall(r"\w+", prefix)) & NOT_TYPES:
                    continue
                decl = re.sub(r"^\s*NC_API\s+", "", s)
                self.prototypes.append((m.group(2), canon(decl), pretty(decl), line))

    def mentions(self, name):
        return re.search(r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(name), self.text) is not None

    def table_rows(self, name):
        """(line, cells, index) of table rows with a cell `name`."""
        rows = []
        for k, line in enumerate(self.lines):
            if not line.lstrip().startswith("|") or name not in line:
                continue
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            for j, c in enumerate(cells):
                if c == "`%s`" % name:
                    rows.append((k + 1, cells, j))
        return rows


# ---- the comparison ------------------------------------------------------

def explain(header_decl, doc_decl):
    """How two prototypes of the same function differ, in words."""
    def parts(decl):
        m = re.match(r"\s*(?:NC_API\s+)?(.*?)\(\s*(.*)\)\s*$", decl, re.S)
        head, params = m.group(1), m.group(2)
        return pretty(head), [pretty(p) for p in split_top(params)]
    (hh, hp), (dh, dp) = parts(header_decl), parts(doc_decl)
    out = []
    if canon(hh) != canon(dh):
        out.append("return type and name: header `%s`, docs `%s`" % (hh, dh))
    if len(hp) != len(dp):
        out.append("%d parameters in the header, %d in the docs" % (len(hp), len(dp)))
    for k, (a, b) in enumerate(zip(hp, dp)):
        if canon(a) != canon(b):
            out.append("parameter %d: header `%s`, docs `%s`" % (k + 1, a, b))
    return "; ".join(out) or "token order differs"


def check(header_path, doc_path, extra=None):
    """Return (problems, counts, passed, failed); problems are (kind, text).
    extra: further headers; by default the MPI header beside ncollapse.h,
    which the reference documents in its own section."""
    if extra is None:
        sibling = os.path.join(os.path.dirname(header_path), "ncollapse_mpi.h")
        extra = [sibling] if os.path.basename(header_path) == "ncollapse.h" and \
            os.path.isfile(sibling) else []
    h = Header(header_path, extra)
    r = Reference(doc_path)
    problems = []
    passed = failed = 0

    def item(ok):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1

    docs_by_name = {}
    for name, c, p, line in r.prototypes:
        docs_by_name.setdefault(name, []).append((c, p, line))

    for name in h.function_order:
        hc, hp = h.functions[name]
        found = docs_by_name.get(name, [])
        ok = True
        if not found:
            problems.append(("missing function", "%s is not declared in a code block of %s; header: %s;"
                             % (name, os.path.basename(doc_path), hp)))
            ok = False
        for c, p, line in found:
            if c != hc:
                problems.append(("mismatched prototype", "%s:%d: %s differs from the header (%s)\n"
                                 "        header: %s;\n        docs:   %s;"
                                 % (doc_path, line, name, explain(hp, p), hp, p)))
                ok = False
        item(ok)

    stale = [(n, p, line) for n, c, p, line in r.prototypes if n not in h.functions]
    for n, p, line in stale:
        problems.append(("stale prototype", "%s:%d: %s is documented but the header does not declare it: %s;"
                         % (doc_path, line, n, p)))
        failed += 1
    if not stale:
        passed += 1

    doc_typedefs = {}
    for name, c, p, line in r.typedefs:
        doc_typedefs.setdefault(name, []).append((c, p, line))
    for t in h.types:
        ok = True
        if not r.mentions(t):
            problems.append(("missing type", "type %s is never mentioned" % t))
            ok = False
        elif t in h.fnptr_types:
            hc, hp = h.fnptr_types[t]
            found = doc_typedefs.get(t, [])
            if not found:
                problems.append(("missing type", "function-pointer type %s is not declared in a code block; "
                                 "header: %s;" % (t, hp)))
                ok = False
            for c, p, line in found:
                if c != hc:
                    problems.append(("mismatched prototype", "%s:%d: typedef %s differs from the header\n"
                                     "        header: %s;\n        docs:   %s;" % (doc_path, line, t, hp, p)))
                    ok = False
        item(ok)

    for c in h.constants:
        ok = True
        if not r.mentions(c):
            problems.append(("missing constant", "constant %s (= %s) is never mentioned"
                             % (c, h.constant_values.get(c, "?"))))
            ok = False
        for line, cells, j in r.table_rows(c):
            nums = [cells[k] for k in (j - 1, j + 1)
                    if 0 <= k < len(cells) and re.fullmatch(r"`?-?\d+`?", cells[k])]
            if not nums:
                continue
            value = h.constant_values.get(c)
            if value is not None and all(int(x.strip("`")) != value for x in nums):
                problems.append(("wrong value", "%s:%d: %s is %d in the header, %s in the table"
                                 % (doc_path, line, c, value, " / ".join(nums))))
                ok = False
            msg = h.constant_messages.get(c)
            if msg is not None and msg not in [x.strip("`") for x in cells]:
                problems.append(("wrong value", "%s:%d: the message of %s in the header is \"%s\", "
                                 "not in the table row" % (doc_path, line, c, msg)))
                ok = False
        item(ok)

    for m in h.public_macros:
        ok = True
        if not r.mentions(m):
            problems.append(("missing macro", "macro %s is never mentioned" % m))
            ok = False
        if m in h.macro_values:
            v = h.macro_values[m]
            want = "`%s`" % (v if isinstance(v, str) else "%d" % v)
            for line, cells, j in r.table_rows(m):
                nxt = cells[j + 1] if j + 1 < len(cells) else ""
                if re.fullmatch(r"`[^`]*`", nxt) and nxt != want:
                    problems.append(("wrong value", "%s:%d: %s is %s in the header, %s in the table"
                                     % (doc_path, line, m, want, nxt)))
                    ok = False
        item(ok)

    if h.placeholders:
        problems.append(("placeholder", "%s: \"@@\" placeholder on line(s) %s"
                         % (header_path, ", ".join(map(str, h.placeholders)))))
        failed += 1
    else:
        passed += 1

    counts = (len(h.functions), len(h.types), len(h.constants), len(h.public_macros))
    return problems, counts, passed, failed


def run_check(header_path, doc_path, extra=None):
    problems, counts, passed, failed = check(header_path, doc_path, extra)
    kinds = {}
    for kind, text in problems:
        kinds[kind] = kinds.get(kind, 0) + 1
        print("%s: %s: %s" % (NAME, kind, text))
    if problems:
        print("%s: %d problem(s): %s" % (NAME, len(problems),
                                         ", ".join("%d %s" % (n, k) for k, n in sorted(kinds.items()))))
    else:
        print("%s: %d functions, %d types, %d constants, %d macros documented" % ((NAME,) + counts))
    print("%s: %d passed, %d failed" % (NAME, passed, failed))
    return 0 if not problems else 1


# ---- self-test -----------------------------------------------------------

def self_test(header_path, doc_path):
    """Mutate copies of the reference (and header) and assert that each
    mutation is reported. Independent of whether the real files pass."""
    results = []
    h = Header(header_path)
    base = Reference(doc_path)
    base_problems = set(t for _, t in check(header_path, doc_path)[0])
    with open(doc_path, encoding="utf-8") as f:
        doc_lines = f.read().split("\n")
    tmp = tempfile.mkdtemp(prefix="check_api_docs.")
    try:
        def run_on(lines=None, header_text=None):
            dp = os.path.join(tmp, "API.md")
            with open(dp, "w", encoding="utf-8") as f:
                f.write("\n".join(doc_lines if lines is None else lines))
            hp = header_path
            if header_text is not None:
                hp = os.path.join(tmp, "ncollapse.h")
                with open(hp, "w", encoding="utf-8") as f:
                    f.write(header_text)
            problems = check(hp, dp)[0]
            return [(k, t) for k, t in problems if t.replace(dp, doc_path).replace(hp, header_path)
                    not in base_problems]

        def expect(label, problems, kind, needle):
            ok = any(k == kind and needle in t for k, t in problems)
            results.append((label, ok))
            print("%s --self-test: %s: %s" % (NAME, "ok" if ok else "NOT REPORTED", label))
            if not ok:
                for k, t in problems:
                    print("    got: %s: %s" % (k, t))

        # one-line documented prototypes of header functions, by doc line
        single = []
        for name, c, p, line in base.prototypes:
            text = doc_lines[line - 1]
            if name in h.functions and c == h.functions[name][0] and text.rstrip().endswith(";") \
                    and "(" in text and sum(1 for n2, _, _, _ in base.prototypes if n2 == name) == 1:
                single.append((name, line))
        if len(single) < 2:
            print("%s --self-test: fewer than two one-line prototypes to mutate" % NAME)
            results.append(("candidates", False))
        else:
            # (a) delete one function's prototype
            name_a, line_a = single[0]
            lines = list(doc_lines)
            del lines[line_a - 1]
            expect("deleted prototype of %s reported" % name_a, run_on(lines), "missing function",
                   name_a + " is not declared")
            # (b) alter one parameter type of another
            name_b, line_b = next(((n, l) for n, l in single[1:]
                                   if re.search(r"\(.*\b(size_t|double|int)\b", doc_lines[l - 1])),
                                  single[1])
            lines = list(doc_lines)
            text = lines[line_b - 1]
            open_paren = text.index("(")
            swap = {"size_t": "int", "double": "float", "int": "long"}
            m = re.search(r"\b(size_t|double|int)\b", text[open_paren:])
            if m:
                k = open_paren + m.start()
                text = text[:k] + swap[m.group(1)] + text[k + len(m.group(1)):]
            else:
                text = text[:open_paren + 1] + "const " + text[open_paren + 1:]
            lines[line_b - 1] = text
            expect("altered parameter type of %s reported" % name_b, run_on(lines),
                   "mismatched prototype", " %s differs" % name_b)
        # (c) add a prototype of a nonexistent nc_ function
        lines = list(doc_lines) + ["", "    nc_status nc_self_test_no_such_function(nc_model *model,",
                                   "                                            double x);", ""]
        expect("prototype of a nonexistent function reported", run_on(lines), "stale prototype",
               "nc_self_test_no_such_function is documented")
        # (d) an enumerator never mentioned
        if h.constants:
            c = h.constants[len(h.constants) // 2]
            lines = [re.sub(r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(c), c + "_RENAMED", l)
                     for l in doc_lines]
            expect("unmentioned constant %s reported" % c, run_on(lines), "missing constant",
                   "constant %s " % c)
        # (e) a placeholder in the header
        expect("@@ placeholder in the header reported",
               run_on(header_text=h.raw + "\n/* @@TODO@@ */\n"), "placeholder", "@@")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    passed = sum(1 for _, ok in results if ok)
    failed = len(results) - passed
    print("%s_self_test: %d passed, %d failed" % (NAME, passed, failed))
    return 0 if failed == 0 else 1


def main(argv):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    args = [a for a in argv if a != "--self-test"]
    if any(a.startswith("-") for a in args) or len(args) > 2:
        print("usage: %s [--self-test] [header] [api.md]" % os.path.basename(sys.argv[0]), file=sys.stderr)
        return 2
    header = args[0] if len(args) > 0 else os.path.join(root, "include", "ncollapse.h")
    doc = args[1] if len(args) > 1 else os.path.join(root, "docs", "API.md")
    for p in (header, doc):
        if not os.path.isfile(p):
            print("%s: cannot read %s" % (NAME, p))
            print("%s: 0 passed, 1 failed" % NAME)
            return 1
    if "--self-test" in argv:
        return self_test(header, doc)
    return run_check(header, doc)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
