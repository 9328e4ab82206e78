/**
 * The architecture's boundaries as data, and a checker that reads every import with TypeScript's own
 * parser (static imports and re-exports, `import x = require()`, `require()` and `import()` calls,
 * type-only imports included), so that no spelling of an import slips past a regular expression.
 */
import * as path from 'path';
import { builtinModules } from 'module';
import ts from 'typescript';

/** Where an import leads: a Node builtin, `vscode`, an npm package, or a repository path (no extension). */
export type ImportTarget = { kind: 'node' | 'vscode' | 'package'; name: string } | { kind: 'local'; path: string };

export interface Rule {
  /** The folder whose files it constrains, e.g. 'engine/server'. */
  from: string;
  /** A folder under `from` that it leaves alone. */
  except?: string;
  /** Why, in words (the failure message says it). */
  says: string;
  allows(target: ImportTarget): boolean;
}

const NODE = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

const under = (p: string, dir: string) => p === dir || p.startsWith(`${dir}/`);
const local = (t: ImportTarget, dir: string) => t.kind === 'local' && under(t.path, dir);
/** Node, npm packages and the repository folders `dirs`. */
const onlyLocal = (t: ImportTarget, dirs: readonly string[]) => t.kind !== 'local' || dirs.some((d) => local(t, d));

/** What the engine offers its front ends: the API, its errors, backend selection, and the shared types. */
const ENGINE_SURFACE = ['engine/api', 'engine/errors', 'engine/backend', 'protocol'] as const;
const notTheCli = (t: ImportTarget) => !local(t, 'engine/cli');

export const RULES: readonly Rule[] = [
  {
    from: 'engine',
    says: 'the engine never imports vscode, the extension or the webview',
    allows: (t) => t.kind !== 'vscode' && !local(t, 'extension') && !local(t, 'webview'),
  },
  {
    from: 'engine/server',
    says: 'the server maps requests onto the engine API: it imports engine/api, engine/errors, engine/backend, protocol/ and itself',
    allows: (t) => onlyLocal(t, [...ENGINE_SURFACE, 'engine/server']),
  },
  {
    from: 'engine/cli',
    says: 'the CLI turns flags into engine API calls: it imports engine/api, engine/errors, engine/backend, protocol/, engine/terminal, engine/server (to serve) and itself',
    allows: (t) => onlyLocal(t, [...ENGINE_SURFACE, 'engine/terminal', 'engine/server', 'engine/cli']),
  },
  {
    from: 'engine',
    except: 'engine/cli',
    says: 'nothing imports the CLI: what it shares (terminal printing) lives in engine/terminal',
    allows: notTheCli,
  },
  {
    from: 'demo',
    says: 'nothing imports the CLI: what it shares (terminal printing) lives in engine/terminal',
    allows: notTheCli,
  },
  {
    from: 'webview',
    says: 'the webview never imports Node, vscode, the engine or the extension',
    allows: (t) => t.kind !== 'node' && t.kind !== 'vscode' && !local(t, 'engine') && !local(t, 'extension'),
  },
  {
    from: 'extension',
    says: 'the extension imports only protocol/ and itself (plus vscode, Node and npm packages)',
    allows: (t) => t.kind !== 'local' || local(t, 'protocol') || local(t, 'extension'),
  },
  {
    from: 'protocol',
    says: 'the protocol imports only itself (its transports also npm packages)',
    allows: (t) => (t.kind === 'local' ? local(t, 'protocol') : t.kind === 'package'),
  },
  {
    from: 'protocol',
    except: 'protocol/transport',
    says: 'outside protocol/transport the protocol imports nothing but itself: the webview bundles it',
    allows: (t) => t.kind === 'local',
  },
];

/** Rules that apply to `file` (a repository path such as 'engine/server/session.ts'). */
function rulesFor(file: string, rules: readonly Rule[]): Rule[] {
  return rules.filter((r) => under(file, r.from) && !(r.except && under(file, r.except)));
}

function classify(file: string, spec: string): ImportTarget {
  if (spec.startsWith('.')) return { kind: 'local', path: path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)) };
  if (spec === 'vscode') return { kind: 'vscode', name: spec };
  if (NODE.has(spec) || NODE.has(spec.split('/')[0])) return { kind: 'node', name: spec };
  return { kind: 'package', name: spec };
}

/** Every module specifier `text` imports, in source order. */
export function importSpecifiers(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  const visit = (n: ts.Node) => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier))
      out.push(n.moduleSpecifier.text);
    else if (
      ts.isImportEqualsDeclaration(n) &&
      ts.isExternalModuleReference(n.moduleReference) &&
      ts.isStringLiteral(n.moduleReference.expression)
    )
      out.push(n.moduleReference.expression.text);
    else if (
      ts.isCallExpression(n) &&
      n.arguments.length > 0 &&
      ts.isStringLiteralLike(n.arguments[0]) &&
      (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require'))
    )
      out.push(n.arguments[0].text);
    else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal))
      out.push(n.argument.literal.text);
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

/** 'file imports spec: rule' for each import that a rule forbids. */
export function violations(sources: readonly { file: string; text: string }[], rules: readonly Rule[] = RULES): string[] {
  const out: string[] = [];
  for (const { file, text } of sources) {
    const applicable = rulesFor(file, rules);
    for (const spec of importSpecifiers(file, text)) {
      const target = classify(file, spec);
      for (const r of applicable) if (!r.allows(target)) out.push(`${file} imports ${spec}: ${r.says}`);
    }
  }
  return out;
}
