import type { Job } from '../jobs/jobs'
import { href } from '../ui/paths'
import { formatMoney } from '../util/money'
import type { GhostImportProgress } from './ghost-jobs'
import type { GhostSummary } from './ghost-previews'

const WHEN = new Intl.DateTimeFormat('en', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })

/** What a Ghost import has done so far, in words. */
export function describeGhostJob(job: Job): string {
  const state = { queued: 'waiting for its next step', running: 'running', done: 'finished', failed: 'stopped' }[
    job.state
  ]
  const p = job.progress as GhostImportProgress
  const parts = (job.payload as { parts: number }).parts
  const rows = p.counts.new + p.counts.updated + p.counts.unchanged
  const skipped = p.counts.rejected > 0 ? `, ${p.counts.rejected} rejected rows skipped` : ''
  const adopted =
    (job.payload as { adopt?: boolean }).adopt && (p.phase !== 'members' || job.state === 'done')
      ? ` Stripe: ${p.adopted} subscriptions kept, ${p.marked} marked${p.unmapped ? `, ${p.unmapped} left (price not mapped)` : ''}${p.pending.length ? `, ${p.pending.length} to mark` : ''}.`
      : ''
  return `Ghost import ${state}: ${p.part} of ${parts} parts, ${rows} members (${p.counts.new} new, ${p.counts.updated} updated, ${p.counts.unchanged} unchanged${skipped}).${adopted}`
}

export function GhostUploadPage(props: { error?: string | undefined; notice?: string | undefined; jobs?: Job[] }) {
  const jobs = props.jobs ?? []
  return (
    <>
      <h1>Import members from Ghost</h1>
      {props.notice ? <p role="status">{props.notice}</p> : null}
      {jobs.length > 0 ? (
        <section aria-labelledby="work">
          <h2 id="work">Imports</h2>
          <ul>
            {jobs.map((job) => (
              <li>
                {WHEN.format(job.createdAt)} UTC: {describeGhostJob(job)}
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
        In Ghost, open <strong>Members</strong>, then <strong>Export</strong>, and upload that CSV here. You will see
        what the import would do, and choose which Masthead tier each complimentary tier and each Stripe price becomes,
        before anything is saved. Ghost's notes, labels, newsletter choices and member ids are never read or kept;
        members deleted in Ghost are left out. Members with a Stripe customer keep paying as they do: their
        subscriptions are adopted, with no new checkout.
      </p>
      <form method="post" action={href('/admin/imports/ghost')} enctype="multipart/form-data">
        <label for="file">Ghost members CSV</label>
        <input id="file" name="file" type="file" accept=".csv,text/csv" required />
        <p>
          <button type="submit">Preview the import</button>
        </p>
      </form>
      <p>
        <a href={href('/admin/imports/patreon')}>Import from Patreon instead</a>
      </p>
    </>
  )
}

/** The mapping a preview was planned with, as the rejected-rows download's query. */
const mappingQuery = (plan: GhostSummary) =>
  new URLSearchParams(
    [
      ...plan.tiers.map((t) => [t.name, t.mappedTo] as const),
      ...plan.prices.map((p) => [p.price.priceId, p.mappedTo] as const),
    ].flatMap(([key, tier]) =>
      tier
        ? [
            ['ghost_key', key],
            ['masthead_tier', tier],
          ]
        : [],
    ),
  ).toString()

const describePrice = (p: GhostSummary['prices'][number]['price']) =>
  `${p.productName ?? p.productId}, ${formatMoney(p.amount, p.currency)} a ${p.interval} (${p.priceId})`

export function GhostPreviewPage(props: {
  batchId: string
  plan: GhostSummary
  tiers: { id: string; name: string }[]
  error?: string | undefined
  stripeMissing?: boolean
}) {
  const { plan } = props
  const shown = plan.rejected.slice(0, 200)
  const rows = plan.counts.new + plan.counts.updated + plan.counts.unchanged
  const choice = (id: string, mappedTo: string | null, none: string) => (
    <select id={id} name="masthead_tier">
      <option value="">{none}</option>
      {props.tiers.map((tier) => (
        <option value={tier.id} selected={mappedTo === tier.id}>
          {tier.name}
        </option>
      ))}
    </select>
  )
  return (
    <>
      <h1>Preview: Ghost import</h1>
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      <p role="status">
        {plan.counts.new} new, {plan.counts.updated} updated, {plan.counts.unchanged} unchanged, {plan.counts.rejected}{' '}
        rejected; {plan.counts.deleted} deleted in Ghost, left out. {plan.counts.comps} comps to grant,{' '}
        {plan.counts.links} Stripe customers to link. Nothing has been saved yet.
      </p>
      {plan.customers > 0 ? (
        <p>
          {plan.customers} {plan.customers === 1 ? 'member has' : 'members have'} a Stripe customer: once the members
          are in, their live subscriptions to a mapped price are kept as Masthead memberships (read from Stripe a page
          of 100 at a time). A subscription to a price left unmapped is left alone.
        </p>
      ) : null}
      {props.stripeMissing ? (
        <p class="error">
          Stripe is not set up here (STRIPE_SECRET_KEY): set it to the account Ghost used before importing members with
          a Stripe customer.
        </p>
      ) : null}
      <form method="post" action={href(`/admin/imports/ghost/${props.batchId}`)}>
        {plan.tiers.length > 0 ? (
          <fieldset>
            <legend>Which Masthead tier is each complimentary Ghost tier?</legend>
            {plan.tiers.map((t, i) => (
              <div>
                <label for={`tier-${i}`}>
                  {t.name} ({t.rows} {t.rows === 1 ? 'comp' : 'comps'})
                </label>
                <input type="hidden" name="ghost_key" value={t.name} />
                {choice(`tier-${i}`, t.mappedTo, 'Not mapped (those rows are rejected)')}
              </div>
            ))}
          </fieldset>
        ) : null}
        {plan.prices.length > 0 ? (
          <fieldset>
            <legend>Which Masthead tier is each Stripe price?</legend>
            {plan.prices.map((p, i) => (
              <div>
                <label for={`price-${i}`}>{describePrice(p.price)}</label>
                <input type="hidden" name="ghost_key" value={p.price.priceId} />
                {choice(`price-${i}`, p.mappedTo, 'Not mapped (left alone in Stripe)')}
              </div>
            ))}
          </fieldset>
        ) : null}
        <p>
          <button type="submit" name="action" value="preview">
            Update the preview
          </button>{' '}
          <button type="submit" name="action" value="commit" disabled={plan.counts.rejected > 0}>
            Import {rows} {rows === 1 ? 'member' : 'members'}
          </button>
        </p>
        {plan.counts.rejected > 0 && rows > 0 ? (
          <p>
            {plan.counts.rejected} {plan.counts.rejected === 1 ? 'row is' : 'rows are'} rejected (listed below). Fix the
            file or the mapping and preview again, or import the valid ones anyway and leave{' '}
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
            <a href={href(`/admin/imports/ghost/${props.batchId}/rejected.csv?${mappingQuery(plan)}`)} download>
              Download the {plan.counts.rejected} rejected {plan.counts.rejected === 1 ? 'row' : 'rows'} as CSV
            </a>{' '}
            (the columns Masthead reads and a reason column: fix them and upload that file).
          </p>
        </section>
      ) : null}
      <p>
        <a href={href('/admin/imports/ghost')}>Start again</a>
      </p>
    </>
  )
}
