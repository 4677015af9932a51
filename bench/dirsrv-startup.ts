/**
 * How long the 389-DS test fixture takes to start: building its template (first run for a given
 * content), starting from the template, and creating an instance without one; and to stop.
 *   node --import tsx bench/dirsrv-startup.ts        (as root, with 389-ds-base installed)
 * Each run uses new content (a comment in the LDIF), so the first start always builds a template.
 */
import { startDirsrv } from '../test/fixtures/dirsrv.ts';
import { generateOrganisation, organisationLdifFor389 } from '../test/fixtures/sample-directory.ts';

const organisation = generateOrganisation({ people: 40, groups: 20, seed: 9 });
const ldif = `${organisationLdifFor389(organisation)}\n# dirsrv-startup ${Date.now()}\n`;
const runs = [
  ['build the template', true],
  ['start from the template', true],
  ['start from the template', true],
  ['create without a template', false],
] as const;
for (const [label, useTemplate] of runs) {
  const started = Date.now();
  const server = await startDirsrv({ ldif, memberOf: true, useTemplate });
  const startMs = Date.now() - started;
  const stopping = Date.now();
  await server.stop();
  console.log(`${label}: start ${startMs} ms (template built: ${server.startup.templateBuilt}), stop ${Date.now() - stopping} ms`);
}
