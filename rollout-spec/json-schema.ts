/**
 * Generates the JSON Schema of the spec file (the schema's INPUT side) and a markdown reference
 * from the field descriptions. `npm run spec:schema` (this file with `--write`) rewrites
 * rollout-spec/rollout-spec.schema.json and docs/spec-reference.md; `--check` exits 1 when they are stale.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { z } from 'zod';
import { rolloutSpecSchema } from './schema';

/** Where the checked-in JSON Schema lives. */
export const JSON_SCHEMA_PATH = join(__dirname, 'rollout-spec.schema.json');
/** Where the generated markdown reference lives. */
export const SPEC_REFERENCE_PATH = join(__dirname, '..', 'docs', 'spec-reference.md');

/** A JSON Schema node, as far as the reference renderer reads it. */
interface JsonSchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  properties?: Record<string, JsonSchemaNode>;
  required?: string[];
  items?: JsonSchemaNode;
  anyOf?: JsonSchemaNode[];
  oneOf?: JsonSchemaNode[];
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  additionalProperties?: JsonSchemaNode | boolean;
  [key: string]: unknown;
}

/** The JSON Schema (draft 2020-12) of what a user may write in a spec file. */
export function generateJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(rolloutSpecSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
  return {
    $schema: schema.$schema,
    $id: 'https://phoenix-rollouts.local/rollout-spec.schema.json',
    title: 'Phoenix rollout spec',
    ...Object.fromEntries(Object.entries(schema).filter(([key]) => key !== '$schema')),
  };
}

/** The checked-in text of the JSON Schema file. */
export function renderJsonSchema(): string {
  return `${JSON.stringify(generateJsonSchema(), null, 2)}\n`;
}

function typeOf(node: JsonSchemaNode): string {
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (node.enum) return node.enum.map((v) => `\`${JSON.stringify(v)}\``).join(' \\| ');
  const variants = node.anyOf ?? node.oneOf;
  if (variants) return [...new Set(variants.map(typeOf))].join(' \\| ');
  if (Array.isArray(node.type)) return node.type.join(' \\| ');
  if (node.type === 'array') return `${node.items ? typeOf(node.items) : 'any'}[]`;
  if (node.type === 'object' && !node.properties && node.additionalProperties) return 'map';
  return node.type ?? 'any';
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function renderDefault(node: JsonSchemaNode): string {
  if (node.default === undefined) return '';
  return `\`${cell(JSON.stringify(node.default))}\``;
}

/** The object variants of a union node (discriminated unions), else undefined. */
function objectVariants(node: JsonSchemaNode): JsonSchemaNode[] | undefined {
  const variants = node.anyOf ?? node.oneOf;
  if (!variants || !variants.every((v) => v.type === 'object' && v.properties)) return undefined;
  return variants;
}

function rows(node: JsonSchemaNode, prefix: string, out: string[], sections: string[]): void {
  const required = new Set(node.required ?? []);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix ? `${prefix}.${key}` : key;
    const req = required.has(key) ? 'yes' : '';
    out.push(`| \`${path}\` | ${typeOf(child)} | ${req} | ${renderDefault(child)} | ${cell(child.description ?? '')} |`);
    const variants = objectVariants(child);
    if (variants) {
      for (const variant of variants) renderSection(variant, path, sections);
    } else if (child.type === 'object' && child.properties) {
      rows(child, path, out, sections);
    } else if (child.type === 'array' && child.items) {
      const itemVariants = objectVariants(child.items);
      if (itemVariants) {
        for (const variant of itemVariants) renderSection(variant, `${path}[]`, sections);
      } else if (child.items.type === 'object' && child.items.properties) {
        rows(child.items, `${path}[]`, out, sections);
      }
    }
  }
}

function renderSection(variant: JsonSchemaNode, path: string, sections: string[]): void {
  const kind = variant.properties?.kind?.const;
  const title = typeof kind === 'string' ? `\`${path}\` with \`kind: ${kind}\`` : `\`${path}\`: ${variant.description ?? ''}`;
  const out: string[] = [];
  const nested: string[] = [];
  rows(variant, path, out, nested);
  sections.push(
    [
      `### ${title}`,
      '',
      ...(kind !== undefined && variant.description ? [variant.description, ''] : []),
      '| Field | Type | Required | Default | Description |',
      '| --- | --- | --- | --- | --- |',
      ...out,
      '',
    ].join('\n'),
    ...nested,
  );
}

/** Markdown reference of every field, generated from the JSON Schema's descriptions. */
export function renderSpecReference(schema: Record<string, unknown> = generateJsonSchema()): string {
  const out: string[] = [];
  const sections: string[] = [];
  rows(schema, '', out, sections);
  return [
    '# Rollout spec reference',
    '',
    '<!-- Generated by `npm run spec:schema` from the schema in rollout-spec/ (root: schema.ts); do not edit by hand. -->',
    '',
    'A rollout spec is YAML or JSON. The seed design\'s blocks are accepted verbatim: §3.2 `trafficControl`,',
    '§4.2 `validation` and §6.1 `rollback_triggers`. Unknown keys are errors. Units: durations take `ms`, `s`,',
    '`m`, `h` (a bare number is seconds, except latencies where it is milliseconds); rates and ratios take',
    '`"0.5%"` or a bare fraction (`0.005`); weights are whole percent (`20` or `"20%"`, not `2.5`: HAProxy weights',
    'are integers). Every query template is evaluated over its check\'s window and must use `{{window}}`.',
    'The JSON Schema is `rollout-spec/rollout-spec.schema.json`.',
    '',
    '## Top level',
    '',
    '| Field | Type | Required | Default | Description |',
    '| --- | --- | --- | --- | --- |',
    ...out,
    '',
    '## Variants',
    '',
    ...sections,
  ].join('\n');
}

/** Both generated files with their expected contents. */
export function generatedFiles(): { path: string; content: string }[] {
  const schema = generateJsonSchema();
  return [
    { path: JSON_SCHEMA_PATH, content: `${JSON.stringify(schema, null, 2)}\n` },
    { path: SPEC_REFERENCE_PATH, content: renderSpecReference(schema) },
  ];
}

/** Paths of generated files whose checked-in content differs from what would be generated. */
export function staleFiles(): string[] {
  return generatedFiles()
    .filter(({ path, content }) => {
      try {
        return readFileSync(path, 'utf8') !== content;
      } catch {
        return true;
      }
    })
    .map(({ path }) => path);
}

function main(argv: string[]): number {
  if (argv.includes('--write')) {
    for (const { path, content } of generatedFiles()) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
      process.stdout.write(`wrote ${relative(process.cwd(), path)}\n`);
    }
    return 0;
  }
  if (argv.includes('--check')) {
    const stale = staleFiles();
    for (const path of stale) process.stderr.write(`stale: ${relative(process.cwd(), path)} (run npm run spec:schema)\n`);
    return stale.length === 0 ? 0 : 1;
  }
  process.stdout.write(renderJsonSchema());
  return 0;
}

if (require.main === module) {
  process.exitCode = main(process.argv.slice(2));
}
