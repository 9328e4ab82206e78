/**
 * How often a model's greedy completion of a HumanEval prompt, stopped at the next top-level
 * statement, parses as Python (python3's own parser, one process for the whole set). A HumanEval
 * prompt ends with the docstring, which is already a valid body: a completion counts only when the
 * function also gets at least one statement of its own.
 */
import { spawnSync } from 'child_process';
import { Adapter } from '../model/adapter-weights';
import { LoadedModel } from '../model/load';
import { completePrompt } from './complete';
import { Problem } from './problems';

/** The next top-level statement: a line that starts with neither whitespace nor a closing bracket. */
export const NEXT_TOP_LEVEL = /\n(?=[^\s)\]}])/;

export interface SyntaxResult {
  task_id: string;
  completion: string;
  parses: boolean;
  error?: string;
}

export async function syntaxRate(
  m: LoadedModel,
  adapter: Adapter | undefined,
  problems: Problem[],
  maxNewTokens: number,
  onDone?: (i: number) => void,
): Promise<{ rate: number; results: SyntaxResult[] }> {
  const completions: string[] = [];
  for (let i = 0; i < problems.length; i++) {
    const r = await completePrompt(m, adapter, problems[i].prompt, {
      maxNewTokens,
      temperature: 0,
      topP: 1,
      seed: 0,
      stop: [NEXT_TOP_LEVEL],
    });
    completions.push(r.completion);
    onDone?.(i + 1);
  }
  const checks = parseChecks(problems.map((p, i) => ({ prompt: p.prompt, completion: completions[i], entryPoint: p.entry_point })));
  const results = problems.map((p, i) => ({ task_id: p.task_id, completion: completions[i], ...checks[i] }));
  return { rate: results.filter((r) => r.parses).length / results.length, results };
}

const CHECKER = `
import ast, json, sys

def statements(source, name):
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            return len(node.body)
    return 0

out = []
for item in json.load(sys.stdin):
    source = item["prompt"] + item["completion"]
    try:
        ast.parse(source)
    except (SyntaxError, ValueError) as e:
        out.append({"parses": False, "error": f"{type(e).__name__}: {e}"})
        continue
    if statements(source, item["entryPoint"]) <= statements(item["prompt"], item["entryPoint"]):
        out.append({"parses": False, "error": "the completion adds no statement to the function"})
    else:
        out.append({"parses": True})
json.dump(out, sys.stdout)
`;

export function parseChecks(items: { prompt: string; completion: string; entryPoint: string }[]): { parses: boolean; error?: string }[] {
  const r = spawnSync('python3', ['-c', CHECKER], { input: JSON.stringify(items), encoding: 'utf8', maxBuffer: 1 << 26, timeout: 60_000 });
  if (r.status !== 0) throw new Error(`python3 could not check the completions: ${r.error?.message ?? r.stderr}`);
  return JSON.parse(r.stdout);
}
