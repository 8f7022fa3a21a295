/**
 * Loading the catalog: every `*.yaml` / `*.yml` file of one directory, merged. Each problem is
 * listed as `file: path: message`; a catalog with any problem is not loaded at all (the worker
 * and the API refuse to start on it, and a rollout started while it is broken fails before it
 * touches anything). Every service is checked by resolving it once, so a catalog that loads can
 * resolve every service it names.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { toSpecIssues } from '../rollout-spec/parse';
import { specSchemas } from '../rollout-spec/schema';
import { resolveRequest } from './resolve';
import { CATALOG_SECTIONS, catalogFileSchema, serviceEntrySchema, type CatalogSection, type ServiceEntry } from './schema';

/** One named entry and the file it came from. */
export interface CatalogEntry<T> {
  readonly name: string;
  readonly file: string;
  readonly value: T;
}

type Block = Record<string, unknown>;

/** The loaded catalog: entries by name, per section. */
export interface Catalog {
  /** The directory it was loaded from; `null` for the empty catalog. */
  readonly dir: string | null;
  readonly routers: ReadonlyMap<string, CatalogEntry<Block>>;
  readonly platforms: ReadonlyMap<string, CatalogEntry<Block>>;
  readonly metricSources: ReadonlyMap<string, CatalogEntry<Block>>;
  readonly alertReceivers: ReadonlyMap<string, CatalogEntry<Block>>;
  readonly services: ReadonlyMap<string, CatalogEntry<ServiceEntry>>;
}

/** Thrown when the catalog directory or one of its files is invalid; lists every problem. */
export class CatalogError extends Error {
  override readonly name = 'CatalogError';
  constructor(readonly issues: readonly string[]) {
    super(`invalid catalog (${issues.length} problem${issues.length === 1 ? '' : 's'}):\n  ${issues.join('\n  ')}`);
  }
}

/** A catalog with no entries: every request for a service is refused. */
export function emptyCatalog(): Catalog {
  return { dir: null, routers: new Map(), platforms: new Map(), metricSources: new Map(), alertReceivers: new Map(), services: new Map() };
}

const SECTION_SCHEMA: Partial<Record<CatalogSection, { safeParse: (v: unknown, o?: object) => { success: boolean; error?: { issues: unknown[] } } }>> = {
  routers: specSchemas.traffic,
  platforms: specSchemas.platform,
  metricSources: specSchemas.metrics,
  alertReceivers: specSchemas.alerts,
};
const ENTRY_KIND: Record<Exclude<CatalogSection, 'services'>, string> = {
  routers: 'router',
  platforms: 'platform',
  metricSources: 'metric source',
  alertReceivers: 'alert receiver',
};

/** Loads and checks every catalog file in `dir`. @throws CatalogError listing every problem. */
export function loadCatalog(dir: string): Catalog {
  const issues: string[] = [];
  let files: string[];
  try {
    files = readdirSync(dir)
      .filter((f) => /\.ya?ml$/i.test(f))
      .sort();
  } catch (err) {
    throw new CatalogError([`${dir}: cannot read the catalog directory: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`]);
  }
  if (files.length === 0) throw new CatalogError([`${dir}: no *.yaml or *.yml files`]);

  const maps = Object.fromEntries(CATALOG_SECTIONS.map((s) => [s, new Map<string, CatalogEntry<unknown>>()])) as Record<
    CatalogSection,
    Map<string, CatalogEntry<unknown>>
  >;
  for (const file of files) {
    const text = readFileSync(path.join(dir, file), 'utf8');
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
    if (doc.errors.length > 0) {
      for (const err of doc.errors) issues.push(`${file}: (root): YAML syntax error: ${(err.message.split('\n')[0] ?? '').trim()}`);
      continue;
    }
    const data: unknown = doc.toJS({ maxAliasCount: 100 }) ?? {};
    // Entry by entry, so that one bad entry does not hide the problems of the others.
    for (const { section, name, value, problems } of fileEntries(data)) {
      if (problems.length > 0) {
        issues.push(...problems.map((p) => `${file}: ${p}`));
        if (name === undefined) continue;
      }
      if (section === undefined || name === undefined) continue;
      const earlier = maps[section].get(name);
      if (earlier) {
        issues.push(`${file}: ${section}.${name}: already defined in ${earlier.file}`);
        continue;
      }
      if (problems.length > 0) continue;
      maps[section].set(name, { name, file, value });
      const schema = SECTION_SCHEMA[section];
      if (schema) {
        const check = schema.safeParse(value, { reportInput: true });
        if (!check.success) {
          for (const issue of toSpecIssues(check.error!.issues as never, value)) {
            issues.push(`${file}: ${section}.${name}.${issue.path}: ${issue.message}`);
          }
        }
      }
      if (section === 'metricSources' && typeof (value as Block).prometheusUrl !== 'string') {
        issues.push(`${file}: metricSources.${name}.prometheusUrl: is required in a catalog metric source`);
      }
    }
  }
  const catalog: Catalog = {
    dir,
    routers: maps.routers as Map<string, CatalogEntry<Block>>,
    platforms: maps.platforms as Map<string, CatalogEntry<Block>>,
    metricSources: maps.metricSources as Map<string, CatalogEntry<Block>>,
    alertReceivers: maps.alertReceivers as Map<string, CatalogEntry<Block>>,
    services: maps.services as Map<string, CatalogEntry<ServiceEntry>>,
  };
  issues.push(...referenceProblems(catalog));
  if (issues.length === 0) issues.push(...serviceProblems(catalog));
  if (issues.length > 0) throw new CatalogError(issues);
  return catalog;
}

interface FileEntry {
  section?: CatalogSection;
  name?: string;
  value?: unknown;
  problems: string[];
}

/** The entries of one file, each parsed on its own, with the problems of the file's shape. */
function fileEntries(data: unknown): FileEntry[] {
  const top = catalogFileSchema.safeParse(data, { reportInput: true });
  if (top.success) {
    return CATALOG_SECTIONS.flatMap((section) =>
      Object.entries(top.data[section] ?? {}).map(([name, value]) => ({ section, name, value, problems: [] })),
    );
  }
  // Report each problem once, but keep the entries the problems do not touch.
  const bad = new Map<string, string[]>();
  const general: string[] = [];
  for (const issue of toSpecIssues(top.error.issues, data)) {
    const [section, name] = issue.path.split('.');
    if (section && name && (CATALOG_SECTIONS as readonly string[]).includes(section)) {
      const key = `${section}.${name}`;
      bad.set(key, [...(bad.get(key) ?? []), `${issue.path}: ${issue.message}`]);
    } else general.push(`${issue.path}: ${issue.message}`);
  }
  const out: FileEntry[] = general.length > 0 ? [{ problems: general }] : [];
  if (data === null || typeof data !== 'object' || Array.isArray(data)) return out;
  for (const section of CATALOG_SECTIONS) {
    const entries = (data as Record<string, unknown>)[section];
    if (entries === null || typeof entries !== 'object' || Array.isArray(entries)) continue;
    for (const [name, value] of Object.entries(entries as Record<string, unknown>)) {
      const problems = bad.get(`${section}.${name}`) ?? [];
      // Valid entries are re-parsed on their own so defaults are applied.
      const parsed = section === 'services' && problems.length === 0 ? serviceEntrySchema.safeParse(value) : undefined;
      out.push({ section, name, value: parsed?.success ? parsed.data : value, problems });
    }
  }
  return out;
}

function referenceProblems(catalog: Catalog): string[] {
  const issues: string[] = [];
  for (const { name, file, value } of catalog.services.values()) {
    const refs: [keyof ServiceEntry, Exclude<CatalogSection, 'services'>, string | undefined][] = [
      ['router', 'routers', value.router],
      ['platform', 'platforms', value.platform],
      ['metrics', 'metricSources', value.metrics],
      ['alerts', 'alertReceivers', value.alerts],
    ];
    for (const [field, section, ref] of refs) {
      if (ref !== undefined && !catalog[section].has(ref)) {
        const known = [...catalog[section].keys()];
        issues.push(`${file}: services.${name}.${field}: no ${ENTRY_KIND[section]} "${ref}" (known: ${known.join(', ') || 'none'})`);
      }
    }
  }
  return issues;
}

/** Resolves each service once with placeholder versions: defaults that cannot work are found now. */
function serviceProblems(catalog: Catalog): string[] {
  const issues: string[] = [];
  for (const { name, file, value } of catalog.services.values()) {
    const stable = value.stable ?? { version: 'catalog-check-stable' };
    const result = resolveRequest(catalog, { service: name, stable, canary: { version: `${stable.version}-catalog-check` }, overrides: {} });
    if (!result.ok) for (const issue of result.issues) issues.push(`${file}: services.${name}: ${issue.path}: ${issue.message}`);
  }
  return issues;
}
