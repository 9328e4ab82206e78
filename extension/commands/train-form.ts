/**
 * The hyperparameters of "Train Adapter" as a form: a list of every option of the protocol's table
 * with its value (the default shown as such) and what it does; picking one edits it in a validated
 * input box. Typing "key=value ..." in the list's box and pressing Enter sets several at once and
 * starts (for the keyboard); unknown keys and bad values are refused with the reason, never ignored.
 */
import * as vscode from 'vscode';
import { parseTrainOptions, TRAIN_OPTIONS, trainOptionError, type TrainOptionSpec, type TrainOptionValues } from '../../protocol/training';

type Values = TrainOptionValues;
type Item = vscode.QuickPickItem & { spec?: TrainOptionSpec; start?: boolean };

function valueText(spec: TrainOptionSpec, values: Values): string {
  const v = values[spec.key];
  if (v !== undefined) return spec.kind === 'flag' ? (v === true ? 'on' : 'off') : String(v);
  return spec.kind === 'flag' ? 'off (default)' : spec.default !== undefined ? `${spec.default} (default)` : 'default';
}

function items(values: Values, problem: string | undefined): Item[] {
  const option = (spec: TrainOptionSpec): Item => ({
    label: spec.key,
    description: `= ${valueText(spec, values)}`,
    detail: spec.help,
    spec,
  });
  return [
    ...(problem ? [{ label: `$(error) ${problem}`, alwaysShow: true } as Item] : []),
    { label: '$(play) Start training with these settings', alwaysShow: true, start: true },
    { label: 'common', kind: vscode.QuickPickItemKind.Separator },
    ...TRAIN_OPTIONS.filter((o) => o.common).map(option),
    { label: 'more', kind: vscode.QuickPickItemKind.Separator },
    ...TRAIN_OPTIONS.filter((o) => !o.common).map(option),
  ];
}

async function editOne(spec: TrainOptionSpec, values: Values): Promise<void> {
  if (spec.kind === 'flag') {
    if (values[spec.key] === true) delete values[spec.key];
    else values[spec.key] = true;
    return;
  }
  const v = await vscode.window.showInputBox({
    title: `${spec.key}: ${spec.help}`,
    value: typeof values[spec.key] === 'string' ? (values[spec.key] as string) : typeof spec.default === 'string' ? spec.default : '',
    prompt: spec.choices ? `one of ${spec.choices.join(', ')}` : 'empty: the default',
    validateInput: (s) => (s.trim() === '' ? undefined : trainOptionError(spec.key, s.trim())),
  });
  if (v === undefined) return;
  if (v.trim() === '') delete values[spec.key];
  else values[spec.key] = v.trim();
}

/** The options the user set (defaults left out), or undefined if they backed out. */
export async function trainOptionsForm(title: string, initial: Values = {}): Promise<Values | undefined> {
  const values: Values = { ...initial };
  let problem: string | undefined;
  let active: string | undefined;
  for (;;) {
    const qp = vscode.window.createQuickPick<Item>();
    qp.title = title;
    qp.placeholder = 'Pick an option to change it, or type key=value pairs (e.g. maxSteps=200 lr=3e-4) and press Enter';
    qp.matchOnDescription = true;
    qp.ignoreFocusOut = true; // a form stays while the user looks something up elsewhere
    qp.items = items(values, problem);
    const again = qp.items.find((i) => i.spec?.key === active);
    if (again) qp.activeItems = [again];
    const choice = await new Promise<{ item?: Item; typed: string } | undefined>((resolve) => {
      // Typed pairs win over the item that stays in view (the Start item is always shown).
      qp.onDidAccept(() =>
        resolve({ item: qp.value.includes('=') ? undefined : (qp.selectedItems[0] ?? qp.activeItems[0]), typed: qp.value }),
      );
      qp.onDidHide(() => resolve(undefined));
      qp.show();
    });
    qp.dispose();
    if (!choice) return undefined;
    problem = undefined;
    if (!choice.item && choice.typed.trim()) {
      try {
        Object.assign(values, parseTrainOptions(choice.typed));
        return values;
      } catch (e) {
        problem = (e as Error).message;
        continue;
      }
    }
    if (choice.item?.start) return values;
    if (choice.item?.spec) {
      active = choice.item.spec.key;
      await editOne(choice.item.spec, values);
    }
  }
}
