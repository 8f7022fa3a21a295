/**
 * The catalog file format: YAML files in one directory, each holding any of the five sections
 * below as maps from entry name to entry. Targets keep the rollout spec's own formats (a router
 * is a spec `traffic` block, a platform a spec `platform` block, a metric source a spec `metrics`
 * block, an alert receiver a spec `alerts` block), so a team moving from inline specs copies its
 * blocks as they are. Services bind them and carry their policy defaults and override limits.
 */
import { z } from 'zod';
import { durationField, fractionField, strict, versionRef, weightField } from '../rollout-spec/fields';
import { SAFE_LABEL_VALUE } from '../rollout-spec/queries';
import { POLICY_FIELDS } from './types';

/** Names of routers, platforms, metric sources and receivers. */
export const ENTRY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const entryName = z.string().regex(ENTRY_NAME, 'must be a name of letters, digits, ".", "_", "-" (at most 63)');

/** A target block, validated in full by the rollout spec's schema when the catalog is checked. */
const block = z.record(z.string(), z.unknown(), { error: 'must be a mapping' });

const limitsSchema = strict({
  minWarmup: durationField('Shortest warm-up a request may ask for.').optional(),
  minPhaseDuration: durationField('Shortest traffic phase a request may ask for.').optional(),
  maxFirstWeight: weightField('Highest weight of the first traffic phase a request may ask for.').optional(),
  maxAnalysisInterval: durationField('Longest analysis interval a request may ask for.').optional(),
  maxErrorRate: fractionField('Loosest error-rate threshold or trigger a request may ask for.').optional(),
  requireTriggers: z
    .boolean()
    .default(true)
    .describe('A request may not leave the rollout without rollback triggers.'),
})
  .prefault({})
  .describe('Bounds every resolved rollout of this service must keep, whatever the request asked for.');

export const serviceEntrySchema = strict({
  description: z.string().optional(),
  router: entryName.describe('Name of the traffic router (under `routers`).'),
  platform: entryName.describe('Name of the platform (under `platforms`).'),
  metrics: entryName.describe('Name of the metric source (under `metricSources`).'),
  alerts: entryName.optional().describe('Name of the alert receiver (under `alertReceivers`); alerts are only logged without one.'),
  stable: versionRef('stable').optional().describe('The version serving now; a request may name another.'),
  defaults: strict(Object.fromEntries(POLICY_FIELDS.map((f) => [f, z.unknown().optional()])))
    .prefault({})
    .describe('Policy of every rollout of this service, in the rollout spec format.'),
  overrides: strict({
    allow: z
      .array(z.enum(POLICY_FIELDS))
      .optional()
      .describe('Policy fields a request may override (default: all of them).'),
    limits: limitsSchema,
  })
    .prefault({})
    .describe('What a request may change.'),
});

export type ServiceEntry = z.output<typeof serviceEntrySchema>;
export type OverrideLimits = ServiceEntry['overrides']['limits'];

const serviceName = z
  .string()
  .regex(SAFE_LABEL_VALUE, 'must be a service name (letters, digits, ".", "_", "-")');

/** One catalog file. Every section is optional; names are unique across all files. */
export const catalogFileSchema = strict({
  routers: z.record(entryName, block).optional().describe('Traffic routers (spec `traffic` blocks).'),
  platforms: z.record(entryName, block).optional().describe('Platforms (spec `platform` blocks).'),
  metricSources: z.record(entryName, block).optional().describe('Metric sources (spec `metrics` blocks).'),
  alertReceivers: z.record(entryName, block).optional().describe('Alert receivers (spec `alerts` blocks).'),
  services: z.record(serviceName, serviceEntrySchema).optional().describe('Services that can be rolled out.'),
});

export const CATALOG_SECTIONS = ['routers', 'platforms', 'metricSources', 'alertReceivers', 'services'] as const;
export type CatalogSection = (typeof CATALOG_SECTIONS)[number];
