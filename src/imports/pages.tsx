import type { Job } from '../jobs/jobs'
import { formatMoney } from '../util/money'
import type { MoveStatus, Monthly } from './move-status'
import type { ImportProgress, InvitationProgress } from './jobs'
import type { ImportSummary } from './patreon-import'
import type { WebhookStatus } from './patreon-webhooks'
import { href } from '../ui/paths'
import { describeGhostJob } from './ghost-pages'

const WHEN = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })

/** What a job has done so far, in words. */
export function describeJob(job: Job): string {
  const state = { queued: 'waiting for its next step', running: 'running', done: 'finished', failed: 'stopped' }[
    job.state
  ]
  if (job.kind === 'ghost_import') return describeGhostJob(job)
  if (job.kind === 'patreon_import') {
    const p = job.progress as ImportProgress
    const parts = (job.payload as { parts: number }).parts
    const rows = p.counts.new + p.counts.updated + p.counts.unchanged
    const skipped = p.counts.rejected > 0 ? `, ${p.counts.rejected} rejected rows skipped` : ''
    return `Import ${state}: ${p.part} of ${parts} parts, ${rows} rows (${p.counts.new} new, ${p.counts.updated} updated, ${p.counts.unchanged} unchanged${skipped}).`
  }
  const p = job.progress as InvitationProgress
  const left = p.remaining === null ? '' : `, ${p.remaining} to go`
  const reminders = p.reminded ? ` (${p.reminded} of them reminders)` : ''
  return `Invitations ${state}: ${p.sent} sent${reminders}${p.failed ? `, ${p.failed} failed` : ''}${left}.`
}

const perMonth = (monthly: Monthly[]) =>
  monthly.length === 0 ? 'nothing' : monthly.map((m) => formatMoney(m.amount, m.currency)).join(' + ')

export function PatreonUploadPage(props: {
  error?: string | undefined
  notice?: string | undefined
  jobs?: Job[]
  status?: MoveStatus
  webhooks?: WebhookStatus
}) {
  const jobs = props.jobs ?? []
  const status = props.status
  return (
    <>
      <h1>Import patrons from Patreon</h1>
      {props.notice ? <p role="status">{props.notice}</p> : null}
      {status && status.moved.patrons + status.notYet.patrons + status.lapsed.patrons > 0 ? (
        <section aria-labelledby="move">
          <h2 id="move">The move so far</h2>
          <ul>
            <li>
              Moved to a membership here: {status.moved.patrons}, {perMonth(status.moved.monthly)} a month.
            </li>
            <li>
              Not yet (still active on Patreon): {status.notYet.patrons}, {perMonth(status.notYet.monthly)} a month on
              Patreon.
            </li>
            <li>Lapsed without moving (declined or former on Patreon): {status.lapsed.patrons}.</li>
          </ul>
        </section>
      ) : null}
      {props.webhooks ? <WebhookSection status={props.webhooks} /> : null}
      {jobs.length > 0 ? (
        <section aria-labelledby="work">
          <h2 id="work">Imports and invitations</h2>
          <ul>
            {jobs.map((job) => (
              <li>
                {WHEN.format(job.createdAt)} UTC: {describeJob(job)}
                {job.lastError ? <span class="error"> {job.lastError}</span> : null}
              </li>
            ))}
          </ul>
          {jobs.some((job) => job.state === 'queued' || job.state === 'running') ? (
            <p>This runs in the background; reload the page to see how far it has got.</p>
          ) : null}
        </section>
      ) : null}
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      <p>
        On Patreon, open <strong>Audience → Relationship manager</strong> and export your members as CSV. Upload it
        here: you will see what the import would do, and choose which Masthead tier each Patreon tier becomes, before
        anything is saved. Addresses, phone numbers, Discord and Twitter names and "Additional Details" in the file are
        never read or kept.
      </p>
      <form method="post" action={href('/admin/imports/patreon')} enctype="multipart/form-data">
        <label for="file">Patreon members CSV</label>
        <input id="file" name="file" type="file" accept=".csv,text/csv" required />
        <p>
          <button type="submit">Preview the import</button>
        </p>
      </form>
      <p>
        Moving from Ghost? <a href={href('/admin/imports/ghost')}>Import its members export</a>.
      </p>
      <h2>Invitations</h2>
      <form method="post" action={href('/admin/imports/patreon-invitations')}>
        <p>
          E-mail imported active patrons who have not moved yet a link to continue through Stripe, their tier already
          chosen. They go out in the background, a batch a minute, until every one has been invited.
        </p>
        <button type="submit">Send the invitations</button>
      </form>
    </>
  )
}

/** The mapping a preview was planned with, as the rejected-rows download's query. */
const mappingQuery = (plan: ImportSummary) =>
  new URLSearchParams(
    plan.tiers.flatMap((t) =>
      t.mappedTo
        ? [
            ['patreon_tier', t.name],
            ['masthead_tier', t.mappedTo],
          ]
        : [],
    ),
  ).toString()

export function PatreonPreviewPage(props: {
  batchId: string
  plan: ImportSummary
  tiers: { id: string; name: string }[]
  error?: string | undefined
}) {
  const { plan } = props
  const shown = plan.rejected.slice(0, 200)
  const rows = plan.counts.new + plan.counts.updated + plan.counts.unchanged
  return (
    <>
      <h1>Preview: Patreon import</h1>
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      <p role="status">
        {plan.counts.new} new, {plan.counts.updated} updated, {plan.counts.unchanged} unchanged, {plan.counts.rejected}{' '}
        rejected. Nothing has been saved yet.
      </p>
      <form method="post" action={href(`/admin/imports/patreon/${props.batchId}`)}>
        {plan.tiers.length > 0 ? (
          <fieldset>
            <legend>Which Masthead tier is each Patreon tier?</legend>
            {plan.tiers.map((t, i) => (
              <div>
                <label for={`map-${i}`}>
                  {t.name} ({t.rows} {t.rows === 1 ? 'patron' : 'patrons'})
                </label>
                <input type="hidden" name="patreon_tier" value={t.name} />
                <select id={`map-${i}`} name="masthead_tier">
                  <option value="">Not mapped (those rows are rejected)</option>
                  {props.tiers.map((tier) => (
                    <option value={tier.id} selected={t.mappedTo === tier.id}>
                      {tier.name}
                    </option>
                  ))}
                </select>
              </div>
            ))}
          </fieldset>
        ) : null}
        <p>
          <button type="submit" name="action" value="preview">
            Update the preview
          </button>{' '}
          <button type="submit" name="action" value="commit" disabled={plan.counts.rejected > 0}>
            Import {rows} {rows === 1 ? 'row' : 'rows'}
          </button>
        </p>
        {plan.counts.rejected > 0 && rows > 0 ? (
          <p>
            {plan.counts.rejected} {plan.counts.rejected === 1 ? 'row is' : 'rows are'} rejected (listed below). Fix the
            file or the mapping and preview again, or import the others now and leave{' '}
            {plan.counts.rejected === 1 ? 'it' : 'them'} out:{' '}
            <button type="submit" name="action" value="commit-valid">
              Import the {rows} valid {rows === 1 ? 'row' : 'rows'}, skip {plan.counts.rejected}
            </button>
          </p>
        ) : plan.counts.rejected > 0 ? (
          <p>Every row is rejected: nothing can be imported.</p>
        ) : null}
      </form>
      {shown.length > 0 ? (
        <section aria-labelledby="rejected">
          <h2 id="rejected">Rejected rows</h2>
          <div class="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Line</th>
                  <th scope="col">Why</th>
                </tr>
              </thead>
              <tbody>
                {shown.map((r) => (
                  <tr>
                    <td>{r.line}</td>
                    <td>{r.reason}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {plan.counts.rejected > shown.length ? <p>And {plan.counts.rejected - shown.length} more.</p> : null}
          <p>
            <a href={href(`/admin/imports/patreon/${props.batchId}/rejected.csv?${mappingQuery(plan)}`)} download>
              Download the {plan.counts.rejected} rejected {plan.counts.rejected === 1 ? 'row' : 'rows'} as CSV
            </a>{' '}
            (the columns Masthead reads and a reason column: fix them and upload that file).
          </p>
        </section>
      ) : null}
      <p>
        <a href={href('/admin/imports/patreon')}>Start again</a>
      </p>
    </>
  )
}

/** Whether Patreon's webhooks are arriving, and what became of them: counts and times, no patron named. */
function WebhookSection(props: { status: WebhookStatus }) {
  const s = props.status
  return (
    <section aria-labelledby="webhooks">
      <h2 id="webhooks">Patreon webhooks</h2>
      {!s.configured ? (
        <p>
          Not set up: PATREON_WEBHOOK_SECRET is unset, so /webhooks/patreon answers 404. The README says how to register
          the webhook on Patreon.
        </p>
      ) : s.lastAt === null ? (
        <p>Set up, but none has arrived yet.</p>
      ) : (
        <p>The last arrived {WHEN.format(s.lastAt)} UTC.</p>
      )}
      {s.lastAt !== null ? (
        <ul>
          <li>Applied: {s.applied}</li>
          <li>Ignored (older than what was already applied, or repeated): {s.ignored}</li>
          <li>Not applied (rejected as an import would reject the row): {s.rejected}</li>
        </ul>
      ) : null}
      {s.reasons.length > 0 ? (
        <>
          <p>Why some were not applied (map the tier in the next import, or ask Patreon to send the member again):</p>
          <ul>
            {s.reasons.map((r) => (
              <li>
                {r.reason} {r.count} {r.count === 1 ? 'time' : 'times'}, the last {WHEN.format(r.lastAt)} UTC.
              </li>
            ))}
          </ul>
        </>
      ) : null}
    </section>
  )
}
