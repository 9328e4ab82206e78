/** Saves what a panel exported (PNG of the view, JSON of the maps) where the user says. */
import * as vscode from 'vscode';

export async function saveExport(filename: string, bytes: Uint8Array): Promise<void> {
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
  const target = await vscode.window.showSaveDialog({
    defaultUri: folder ? vscode.Uri.joinPath(folder, filename) : undefined,
    saveLabel: 'Export',
  });
  if (!target) return;
  await vscode.workspace.fs.writeFile(target, bytes);
  void vscode.window.showInformationMessage(`DiffLoRA: saved ${vscode.workspace.asRelativePath(target)}`);
}
