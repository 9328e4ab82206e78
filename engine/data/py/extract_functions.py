#!/usr/bin/env python3
"""HumanEval-style (signature + docstring -> body) pairs from Python source, parsed with `ast`.

Two modes (Python 3.8+, stdlib only; tested on 3.11):

  extract_functions.py folder ROOT OUT [--max-lines N] [--exclude NAME]... [--no-default-excludes] [--jobs N]
      Every function and method under ROOT (*.py, sorted relative paths) that has a docstring becomes
      {"prompt", "completion", "source": "relpath:line"} in OUT (JSONL, UTF-8). prompt = the def line(s)
      (decorators excluded) and the docstring, dedented so the def starts at column 0; completion = the rest
      of the body, dedented the same way, ending with a newline. Skipped: trivial bodies (only pass / ... /
      raise NotImplementedError), bodies over --max-lines lines, exact duplicates, odd layouts (docstring
      on the def line, code after the docstring on its line). Files that cannot be read, decoded or parsed
      are listed, never fatal. Prints a JSON summary on stdout. Files are parsed by --jobs worker
      processes (default: the CPU count, at most 8); the output order does not depend on it.

  extract_functions.py split < JSONL
      Per input line {"id", "code", "name"?, "doc"?, "example"?}: splits the top-level function `name` of
      `code` into prompt (the rest of the module, moved above the function, then the decorators and def
      line(s) and a docstring) and completion (the body). The docstring is `doc` plus `example` (a Python
      statement, e.g. "assert f(1) == 2", written as a doctest ">>> f(1)" / "2" when it has that shape);
      when given it replaces any docstring the function had. Without `name`, the function is the first one
      defined in `code` that `example` calls. Writes one JSONL line per input line on stdout:
      {"id", "name", "prompt", "completion"} or {"id", "error"}.
"""
import ast
import hashlib
import io
import json
import multiprocessing
import os
import sys
import tokenize
import warnings

DEFAULT_EXCLUDES = ('__pycache__', 'node_modules', 'site-packages', 'dist-packages')


# ---------------------------------------------------------------------------------------------- helpers

def split_lines(text):
    """Lines without their terminators, the way ast counts them (\\r\\n, \\r and \\n end a line)."""
    return text.replace('\r\n', '\n').replace('\r', '\n').split('\n')


def char_col(line, byte_col):
    """ast columns are UTF-8 byte offsets; this is the same place as a str index."""
    return len(line.encode('utf-8')[:byte_col].decode('utf-8', errors='ignore'))


def docstring_node(fn):
    if fn.body and isinstance(fn.body[0], ast.Expr):
        v = fn.body[0].value
        if isinstance(v, ast.Constant) and isinstance(v.value, str):
            return fn.body[0]
    return None


def is_trivial(stmts):
    """No statements, or only pass, ..., and raise NotImplementedError[(...)]."""
    for s in stmts:
        if isinstance(s, ast.Pass):
            continue
        if isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and s.value.value is Ellipsis:
            continue
        if isinstance(s, ast.Raise) and s.exc is not None:
            e = s.exc.func if isinstance(s.exc, ast.Call) else s.exc
            if isinstance(e, ast.Name) and e.id == 'NotImplementedError':
                continue
        return False
    return True


def string_continuation_lines(nodes, lines):
    """1-based numbers of lines that begin inside a multi-line string literal of these statements (a
    triple-quoted one, or a line continued by a backslash inside quotes): kept verbatim when dedenting, so
    string values do not change. Implicitly concatenated literals over several lines are ordinary code."""
    keep = set()
    for stmt in nodes:
        for n in ast.walk(stmt):
            if not isinstance(n, (ast.Constant, ast.JoinedStr)) or not getattr(n, 'end_lineno', None) or n.end_lineno <= n.lineno:
                continue
            if isinstance(n, ast.Constant) and not isinstance(n.value, (str, bytes)):
                continue
            first = lines[n.lineno - 1]
            triple = first[char_col(first, n.col_offset):].lstrip('rRbBuUfF').startswith(('"""', "'''"))
            for ln in range(n.lineno + 1, n.end_lineno + 1):
                if triple or lines[ln - 2].endswith('\\'):
                    keep.add(ln)
    return keep


def dedent(lines, first_lineno, prefix, keep=frozenset()):
    """Removes `prefix` (the def line's indentation) from each line that has it; blank lines become empty;
    lines in `keep` and lines with less indentation (comments, continuation lines) stay as they are."""
    out = []
    for i, line in enumerate(lines):
        if first_lineno + i in keep:
            out.append(line)
        elif line.strip() == '':
            out.append('')
        elif line.startswith(prefix):
            out.append(line[len(prefix):])
        else:
            out.append(line)
    return out


def parses(text):
    try:
        ast.parse(text)
        return True
    except (SyntaxError, ValueError):
        return False


def functions_in_order(tree):
    """Every (async) def, nested ones included, in source order. Defs are statements, so only statement
    lists are visited (walking every expression node costs most of the time on big files)."""
    out = []

    def visit(stmts):
        for s in stmts:
            if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
                out.append(s)
            for field in ('body', 'orelse', 'finalbody', 'handlers', 'cases'):
                sub = getattr(s, field, None)
                if isinstance(sub, list):
                    visit(sub)

    visit(tree.body)
    out.sort(key=lambda n: (n.lineno, n.col_offset))
    return out


# ----------------------------------------------------------------------------------------- folder mode

def read_source(path):
    """Decodes like the interpreter does: BOM or PEP 263 coding cookie, else strict UTF-8."""
    with open(path, 'rb') as f:
        data = f.read()
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    if encoding == 'utf-8-sig':
        encoding = 'utf-8'
        if data.startswith(b'\xef\xbb\xbf'):
            data = data[3:]
    return data.decode(encoding)


def candidates_of_file(job):
    """(rel, [(key, record)], counts, error): the pairs of one file before de-duplication (runs in a worker)."""
    rel, full, max_lines = job
    counts = {'functions': 0, 'noDocstring': 0, 'trivial': 0, 'tooLong': 0, 'layout': 0}
    try:
        text = read_source(full)
        tree = ast.parse(text)
    except (SyntaxError, UnicodeDecodeError, LookupError, ValueError, OSError, RecursionError, MemoryError) as e:
        return rel, [], counts, f'{type(e).__name__}: {e}'.splitlines()[0][:300]
    try:
        return rel, *pairs_of_tree(tree, split_lines(text), rel, max_lines, counts), None
    except Exception as e:  # a bug here must not stop the run: the file is listed instead
        return rel, [], counts, f'internal error: {type(e).__name__}: {e}'.splitlines()[0][:300]


def pairs_of_tree(tree, lines, rel, max_lines, counts):
    out = []
    for fn in functions_in_order(tree):
        counts['functions'] += 1
        doc = docstring_node(fn)
        if doc is None:
            counts['noDocstring'] += 1
            continue
        def_line = lines[fn.lineno - 1]
        prefix = def_line[:char_col(def_line, fn.col_offset)]
        doc_start = lines[doc.lineno - 1]
        doc_end = lines[doc.end_lineno - 1]
        after = doc_end[char_col(doc_end, doc.end_col_offset):].strip()
        if prefix.strip() != '' or doc_start[:char_col(doc_start, doc.col_offset)].strip() != '' or (after and not after.startswith('#')):
            counts['layout'] += 1  # docstring on the def line, or code after it on its line
            continue
        rest = fn.body[1:]
        if is_trivial(rest):
            counts['trivial'] += 1
            continue
        if fn.end_lineno - doc.end_lineno > max_lines:
            counts['tooLong'] += 1
            continue
        head = dedent(lines[fn.lineno - 1:doc.end_lineno], fn.lineno, prefix)
        body_lines = lines[doc.end_lineno:fn.end_lineno]
        may_span = any('"""' in l or "'''" in l or l.endswith('\\') for l in body_lines)
        keep = string_continuation_lines(rest, lines) if may_span else frozenset()
        body = dedent(body_lines, doc.end_lineno + 1, prefix, keep)
        prompt = '\n'.join(head) + '\n'
        completion = '\n'.join(body) + '\n'
        if not parses(prompt + completion):
            counts['layout'] += 1
            continue
        key = hashlib.sha1((prompt + '\0' + completion).encode('utf-8', 'surrogatepass')).digest()
        out.append((key, {'prompt': prompt, 'completion': completion, 'source': f'{rel}:{fn.lineno}'}))
    return out, counts


def python_files(root, excludes, skip_hidden):
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in excludes and not (skip_hidden and d.startswith('.'))]
        for name in filenames:
            if name.endswith('.py') and not (skip_hidden and name.startswith('.')):
                full = os.path.join(dirpath, name)
                found.append((os.path.relpath(full, root).replace(os.sep, '/'), full))
    found.sort()
    return found


def folder_mode(args):
    root, out = args[0], args[1]
    max_lines, excludes, skip_hidden, jobs = 60, set(DEFAULT_EXCLUDES), True, min(os.cpu_count() or 1, 8)
    i = 2
    while i < len(args):
        if args[i] == '--max-lines':
            max_lines = int(args[i + 1]); i += 2
        elif args[i] == '--exclude':
            excludes.add(args[i + 1]); i += 2
        elif args[i] == '--jobs':
            jobs = max(1, int(args[i + 1])); i += 2
        elif args[i] == '--no-default-excludes':
            excludes.difference_update(DEFAULT_EXCLUDES); skip_hidden = False; i += 1
        else:
            raise SystemExit(f'unknown option {args[i]}')
    if not os.path.isdir(root):
        raise SystemExit(f'{root}: not a folder')
    files = python_files(root, excludes, skip_hidden)
    work = [(rel, full, max_lines) for rel, full in files]
    summary = {'pairs': 0, 'files': len(files), 'filesSkipped': [], 'functions': 0, 'noDocstring': 0,
               'skipped': {'trivial': 0, 'tooLong': 0, 'duplicate': 0, 'layout': 0}}
    seen = set()
    pool = multiprocessing.Pool(jobs) if jobs > 1 and len(work) > 1 else None
    try:
        results = pool.imap(candidates_of_file, work, chunksize=4) if pool else map(candidates_of_file, work)
        part = out + '.part'
        try:
            w = open(part, 'w', encoding='utf-8', newline='\n')
        except OSError as e:
            raise SystemExit(f'{out}: cannot write ({e.strerror})')
        try:
            with w:
                for rel, recs, counts, error in results:  # in sorted path order whatever the pool does
                    if error:
                        summary['filesSkipped'].append({'path': rel, 'reason': error})
                    summary['functions'] += counts['functions']
                    summary['noDocstring'] += counts['noDocstring']
                    for k in ('trivial', 'tooLong', 'layout'):
                        summary['skipped'][k] += counts[k]
                    for key, rec in recs:
                        if key in seen:
                            summary['skipped']['duplicate'] += 1
                            continue
                        seen.add(key)
                        summary['pairs'] += 1
                        w.write(json.dumps(rec, ensure_ascii=False) + '\n')
            os.replace(part, out)
        except BaseException:
            if os.path.exists(part):
                os.unlink(part)
            raise
    finally:
        if pool:
            pool.close()
            pool.join()
    sys.stdout.write(json.dumps(summary) + '\n')


# ------------------------------------------------------------------------------------------ split mode

def header_end(lines, fn):
    """1-based line of the ':' that ends the def header: the first ':' outside brackets after `def`."""
    first = fn.lineno
    src = '\n'.join(lines[first - 1:fn.body[0].lineno]) + '\n'
    depth, seen_def = 0, False
    try:
        for tok in tokenize.generate_tokens(io.StringIO(src).readline):
            if tok.type == tokenize.NAME and tok.string == 'def':
                seen_def = True
            elif tok.type == tokenize.OP and seen_def:
                if tok.string in '([{':
                    depth += 1
                elif tok.string in ')]}':
                    depth -= 1
                elif tok.string == ':' and depth == 0:
                    return first + tok.start[0] - 1, tok.end[1]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    raise ValueError('cannot find the end of the def line')


def doctest_lines(example):
    """'assert f(x) == y' -> ['>>> f(x)', 'y']; any other statement -> ['>>> statement']."""
    example = example.strip()
    try:
        tree = ast.parse(example)
    except SyntaxError:
        return [example]
    if len(tree.body) == 1 and isinstance(tree.body[0], ast.Assert):
        t = tree.body[0].test
        if isinstance(t, ast.Compare) and len(t.ops) == 1 and isinstance(t.ops[0], ast.Eq):
            left, right = ast.get_source_segment(example, t.left), ast.get_source_segment(example, t.comparators[0])
            if left and right and '\n' not in left + right:
                return ['>>> ' + left, right]
    if '\n' in example:
        return ['>>> ' + l if i == 0 else '... ' + l for i, l in enumerate(example.split('\n'))]
    return ['>>> ' + example]


def make_docstring(indent, doc, example):
    body = [l.rstrip() for l in split_lines(doc.strip())] if doc and doc.strip() else []
    if example:
        body += doctest_lines(example)
    text = '\n'.join(body)
    if '\\' in text and '"""' not in text and not text.endswith('\\'):
        quote = 'r"""'
    else:
        quote = '"""'
        text = text.replace('\\', '\\\\').replace('"""', '\\"\\"\\"')
    out = text.split('\n')
    out[0] = indent + quote + out[0]
    for i in range(1, len(out)):
        out[i] = (indent + out[i]) if out[i] else ''
    return out + [indent + '"""']


def entry_name(tree, example):
    defined = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    try:
        calls = [n.func.id for n in ast.walk(ast.parse(example.strip()))
                 if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    except SyntaxError:
        calls = []
    for c in calls:
        if c in defined:
            return c
    raise ValueError('the example calls no function defined in the code')


def split_function(code, name=None, doc=None, example=None):
    lines = split_lines(code)
    tree = ast.parse(code)
    if not name:
        name = entry_name(tree, example or '')
    fns = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
    if not fns:
        raise ValueError(f'no top-level function named {name!r}')
    fn = fns[-1]  # a later definition wins, as when the module runs
    start = fn.decorator_list[0].lineno if fn.decorator_list else fn.lineno
    keep = string_continuation_lines(tree.body, lines)
    clean = [l if i + 1 in keep else l.rstrip() for i, l in enumerate(lines)]  # trailing blanks, outside strings
    # The rest of the module (imports, constants, helpers; in order) goes above the function.
    def trimmed(part):
        while part and part[-1] == '':
            part = part[:-1]
        while part and part[0] == '':
            part = part[1:]
        return part
    before, after = trimmed(clean[:start - 1]), trimmed(clean[fn.end_lineno:])
    others = before + ['', ''] + after if before and after else before + after
    h_line, h_col = header_end(lines, fn)
    old_doc = docstring_node(fn)
    replace_doc = bool((doc and doc.strip()) or example)
    stmts = fn.body[1:] if (old_doc is not None and replace_doc) else fn.body
    if not stmts:
        raise ValueError('the function has no body besides its docstring')
    header = clean[start - 1:h_line]
    if stmts[0].lineno == h_line:
        # One-line def ("def f(x): return x"): the body moves to its own line, indented by 4.
        if old_doc is not None and replace_doc:
            raise ValueError('one-line function with a docstring')
        indent = '    '
        header[-1] = lines[h_line - 1][:h_col].rstrip()  # tokenize columns are str indices
        body = [indent + lines[h_line - 1][h_col:].strip()] + clean[h_line:fn.end_lineno]
    else:
        body_start = (old_doc.end_lineno + 1) if (old_doc is not None and replace_doc) else h_line + 1
        line = lines[stmts[0].lineno - 1]
        indent = line[:len(line) - len(line.lstrip())]
        body = clean[body_start - 1:fn.end_lineno]
    docstring = make_docstring(indent, doc, example) if replace_doc else []
    prompt = ('\n'.join(others) + '\n\n\n' if others else '') + '\n'.join(header + docstring) + '\n'
    while body and body[0] == '':
        body.pop(0)
    completion = '\n'.join(body).rstrip('\n') + '\n'
    ast.parse(prompt + completion)  # raises if the split broke the code
    return name, prompt, completion


def split_mode():
    for raw in sys.stdin:
        if not raw.strip():
            continue
        rec = json.loads(raw)
        try:
            name, prompt, completion = split_function(rec['code'], rec.get('name'), rec.get('doc'), rec.get('example'))
            out = {'id': rec.get('id'), 'name': name, 'prompt': prompt, 'completion': completion}
        except Exception as e:  # one bad record never stops the others
            out = {'id': rec.get('id'), 'error': f'{type(e).__name__}: {e}'.splitlines()[0]}
        sys.stdout.write(json.dumps(out, ensure_ascii=False) + '\n')


def main(argv):
    if sys.version_info < (3, 8):
        sys.stderr.write('extract_functions.py needs Python 3.8 or newer\n')
        return 2
    warnings.simplefilter('ignore')  # SyntaxWarning/DeprecationWarning from parsed code are not ours
    if len(argv) >= 3 and argv[0] == 'folder':
        folder_mode(argv[1:])
    elif argv[:1] == ['split']:
        split_mode()
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == '__main__':
    sys.stdin.reconfigure(encoding='utf-8')
    sys.stdout.reconfigure(encoding='utf-8')
    sys.exit(main(sys.argv[1:]))
