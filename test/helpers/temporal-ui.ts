/**
 * Drives the Temporal Web UI (the one `temporal server start-dev` serves, v2.4x) the way an
 * operator would: search workflows with a visibility query, open a workflow, read its user
 * metadata, send a signal from the "Send a Signal" dialog and run a query from the Queries tab.
 *
 * Selectors were taken from the UI's own markup (data-testid attributes, roles, labels). The UI
 * renders some components twice (a desktop and a mobile copy), hence the `visible` filters.
 */
import type { Locator, Page } from 'playwright-core';
import { eventually } from './browser';

/** Generous because the UI fetches from the server after every navigation. */
const UI_TIMEOUT_MS = 30_000;

export class TemporalUi {
  constructor(
    readonly page: Page,
    /** e.g. `http://127.0.0.1:8233` */
    readonly baseUrl: string,
    readonly namespace = 'default',
  ) {
    page.setDefaultTimeout(UI_TIMEOUT_MS);
  }

  private get workflowsUrl(): string {
    return `${this.baseUrl}/namespaces/${encodeURIComponent(this.namespace)}/workflows`;
  }

  /**
   * Opens the workflow list and types `query` (a visibility query such as
   * `PhoenixService="checkout"`) into the raw query box behind the `</>` toggle, then presses
   * Enter, as a person filtering by search attribute would.
   */
  async searchWorkflows(query: string): Promise<void> {
    await this.page.goto(this.workflowsUrl);
    await this.page.getByTestId('toggle-manual-query').click();
    const input = this.page.getByTestId('manual-search-input');
    await input.fill(query);
    await input.press('Enter');
    await this.page.waitForURL((url) => url.searchParams.get('query') === query);
  }

  /** The link to workflow `workflowId` in the list. */
  workflowLink(workflowId: string): Locator {
    return this.page.getByRole('link', { name: workflowId, exact: true });
  }

  /**
   * Searches with `query` until the list shows `workflowId`, reloading in between because
   * visibility catches up with upserted search attributes a moment after the workflow task.
   */
  async expectListed(query: string, workflowId: string, timeoutMs = UI_TIMEOUT_MS): Promise<void> {
    await this.searchWorkflows(query);
    await eventually(
      `${workflowId} listed for ${query}`,
      async () => {
        if (await this.workflowLink(workflowId).isVisible()) return true;
        await this.page.reload();
        await this.workflowLink(workflowId).or(this.page.getByText('No Results')).first().waitFor();
        return (await this.workflowLink(workflowId).isVisible()) ? true : undefined;
      },
      { timeoutMs, intervalMs: 1000 },
    );
  }

  /** Searches with `query` and waits for the UI's empty-result message. */
  async expectNoResults(query: string): Promise<void> {
    await this.searchWorkflows(query);
    await this.page.getByText('No Results', { exact: true }).waitFor();
  }

  /** Opens the workflow page of the latest run of `workflowId`. */
  async openWorkflow(workflowId: string): Promise<void> {
    await this.page.goto(`${this.workflowsUrl}/${encodeURIComponent(workflowId)}`);
    await this.page.getByTestId('workflow-id-heading').getByText(workflowId).first().waitFor();
  }

  /** Clicks a tab of the workflow page by its test id stem, e.g. `queries`, `user-metadata`. */
  async openTab(tab: 'history' | 'queries' | 'user-metadata' | 'search-attributes' | 'memo'): Promise<void> {
    const link = this.page.getByTestId(`${tab}-tab`);
    await link.click();
    await this.page.locator(`[data-testid="${tab}-tab"][aria-selected="true"]`).waitFor();
  }

  /**
   * Text of a markdown panel on the User Metadata tab: `Summary` and `Details` (static, set at
   * start) or `Current Details` (set by the workflow as it runs). The UI renders each in a
   * sandboxed iframe right after its heading.
   */
  async metadataText(heading: 'Summary' | 'Details' | 'Current Details'): Promise<string> {
    const frame = this.page.frameLocator(
      `xpath=(//h3[normalize-space()="${heading}"]/following::iframe[@title="output"])[1]`,
    );
    const body = frame.locator('body');
    await body.waitFor();
    return (await body.innerText()).trim();
  }

  /**
   * Sends `signalName` with `json` through "More Actions" → "Send a Signal": picks the name from
   * the dialog's list (the UI reads the workflow's registered signals), types the JSON into the
   * Data editor, checks the editor holds exactly that text, and submits. Resolves once the UI
   * reports "Workflow signaled." and the dialog has closed.
   */
  async sendSignal(signalName: string, json: string): Promise<void> {
    await this.page.getByRole('button', { name: 'More Actions' }).click();
    await this.page.getByRole('menuitem', { name: 'Send a Signal' }).filter({ visible: true }).click();
    const dialog = this.page.getByTestId('signal-confirmation-modal').filter({ visible: true });
    await dialog.getByTestId('signal-select-button').click();
    await dialog.getByRole('option', { name: signalName, exact: true }).click();
    const selected = await dialog.getByTestId('signal-select').inputValue();
    if (selected !== signalName) throw new Error(`signal dialog: selected "${selected}", wanted "${signalName}"`);
    const editor = dialog.locator('.cm-content');
    await editor.click();
    // insertText goes in as one edit, so the editor's bracket/quote auto-closing adds nothing.
    await this.page.keyboard.insertText(json);
    const typed = (await editor.innerText()).trim();
    if (typed !== json) throw new Error(`signal dialog: Data holds ${JSON.stringify(typed)}, wanted ${JSON.stringify(json)}`);
    await dialog.getByRole('button', { name: 'Submit' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await this.page.getByText('Workflow signaled.').first().waitFor();
  }

  /**
   * Runs `queryName` from the Queries tab and returns the result as the UI shows it (formatted
   * JSON). The result editor renders lazily, so only the first screenful of a long result is
   * guaranteed to be in the text.
   */
  async runQuery(queryName: string): Promise<string> {
    await this.openTab('queries');
    const select = this.page.getByTestId('query-select-button').filter({ visible: true });
    await select.click();
    await this.page.getByRole('option', { name: queryName, exact: true }).filter({ visible: true }).click();
    await this.page.getByRole('button', { name: 'Run Query' }).click();
    // The editor's content only: its gutter contributes fold markers to innerText.
    const result = this.page.getByTestId('query-result').filter({ visible: true }).locator('.cm-content');
    return eventually(`result of query ${queryName}`, async () => {
      const text = (await result.innerText()).trim();
      return text.startsWith('{') || text.startsWith('[') || text.startsWith('"') ? text : undefined;
    });
  }
}
