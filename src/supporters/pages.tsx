import type { Metrics } from './metrics'
import type { SupporterDetail } from './detail'
import { SUPPORTER_STATUSES } from '../db/supporter-figures'
import { SORTS, SOURCES, type SupporterRow } from './list'
import { formatMoney } from '../util/money'
import { BENEFIT_LABELS } from '../billing/tiers/tiers'
import { INTERVALS } from '../db/schema'
import { Field } from '../ui/field'
import { href } from '../ui/paths'
import { MIN_PREFIX } from '../privacy/blind-index'

const STATUS_LABELS: Record<string, string> = {
  active: 'Active',
  trialing: 'Trial',
  past_due: 'Payment failed',
  canceled_at_period_end: 'Cancelled, until period end',
  ended: 'Lapsed',
  never_paid: 'Never paid',
  none: 'None',
  incomplete: 'Incomplete',
}
const SOURCE_LABELS: Record<string, string> = {
  stripe: 'Stripe',
  donation: 'Donation',
  comp: 'Comp',
  patreon: 'Patreon import',
  gift: 'Gift',
}

const day = (date: Date | null | undefined) => (date ? date.toISOString().slice(0, 10) : '')
const money = (amount: number | null, currency: string | null) =>
  amount === null || currency === null ? '' : formatMoney(amount, currency)

function Select(props: {
  name: string
  label: string
  value: string | undefined
  options: readonly string[]
  labels?: Record<string, string>
}) {
  return (
    <div class="filter">
      <label for={`f-${props.name}`}>{props.label}</label>
      <select id={`f-${props.name}`} name={props.name}>
        <option value="">Any</option>
        {props.options.map((o) => (
          <option value={o} selected={props.value === o}>
            {props.labels?.[o] ?? o}
          </option>
        ))}
      </select>
    </div>
  )
}

export function SupportersPage(props: {
  rows: SupporterRow[]
  count: number
  filter: Record<string, string>
  tiers: { id: string; name: string }[]
  nextCursor: string | null
  /** Words of the search too short to be searched for: said, so an editor does not take them for searched. */
  ignoredWords?: string[]
  error?: string | undefined
}) {
  const { filter } = props
  const query = (extra: Record<string, string>) => new URLSearchParams({ ...filter, ...extra }).toString()
  const tierNames = Object.fromEntries(props.tiers.map((t) => [t.id, t.name]))
  return (
    <>
      <h1>Supporters</h1>
      <form method="get" action={href('/admin/supporters')} class="filters" role="search">
        <div class="filter wide">
          <label for="f-q">Search by e-mail or name</label>
          <input id="f-q" name="q" type="search" value={filter.q ?? ''} aria-describedby="f-q-hint" />
          <p id="f-q-hint" class="muted">
            Finds the beginnings of words of {MIN_PREFIX} letters or more: “ana lop” finds Ana López, “example” finds
            addresses at example.org.
          </p>
        </div>
        <Select
          name="status"
          label="Status"
          value={filter.status}
          options={SUPPORTER_STATUSES}
          labels={STATUS_LABELS}
        />
        <Select
          name="tier"
          label="Tier"
          value={filter.tier}
          options={props.tiers.map((t) => t.id)}
          labels={tierNames}
        />
        <Select name="interval" label="Interval" value={filter.interval} options={INTERVALS} />
        <Select name="source" label="Source" value={filter.source} options={SOURCES} labels={SOURCE_LABELS} />
        <Select
          name="patreon"
          label="From Patreon"
          value={filter.patreon}
          options={['moved', 'not_moved']}
          labels={{ moved: 'Moved over to Stripe', not_moved: 'Not moved yet' }}
        />
        <div class="filter">
          <label for="f-since-from">Supporter since, from</label>
          <input id="f-since-from" name="since_from" type="date" value={filter.since_from ?? ''} />
        </div>
        <div class="filter">
          <label for="f-since-to">to</label>
          <input id="f-since-to" name="since_to" type="date" value={filter.since_to ?? ''} />
        </div>
        <Select name="sort" label="Sort by" value={filter.sort} options={SORTS} />
        <p>
          <button type="submit">Show</button> <a href={href('/admin/supporters')}>Clear</a>
        </p>
      </form>
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      {props.ignoredWords?.length ? (
        <p class="muted" role="note">
          Not searched for, being shorter than {MIN_PREFIX} letters: {props.ignoredWords.join(', ')}.
        </p>
      ) : null}
      <p role="status">
        {props.count.toLocaleString('en')} {props.count === 1 ? 'supporter matches' : 'supporters match'}.{' '}
        <a href={href(`/api/admin/supporters.csv?${query({})}`)} download>
          Export these as CSV
        </a>
      </p>
      <div class="table-scroll">
        <table>
          <thead>
            <tr>
              <th scope="col">Supporter</th>
              <th scope="col">Status</th>
              <th scope="col">Tier</th>
              <th scope="col">Source</th>
              <th scope="col">Since</th>
              <th scope="col">Lifetime</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.map((r) => (
              <tr>
                <td>
                  <a href={href(`/admin/supporters/${r.userId}`)}>{r.email}</a>
                  {r.name ? <div class="muted">{r.name}</div> : null}
                </td>
                <td>{STATUS_LABELS[r.status] ?? r.status}</td>
                <td>
                  {r.tierId ? (tierNames[r.tierId] ?? r.tierId) : ''}
                  {r.interval ? ` (${r.interval})` : ''}
                </td>
                <td>
                  {r.source ? (SOURCE_LABELS[r.source] ?? r.source) : ''}
                  {r.patreonStatus ? (
                    <div class="muted">
                      {r.movedFromPatreon ? 'Moved over from Patreon' : 'On Patreon, not moved yet'}
                    </div>
                  ) : null}
                </td>
                <td>{day(r.since)}</td>
                <td>
                  {r.lifetimeCurrency ? money(r.lifetimeAmount, r.lifetimeCurrency) : r.lifetimeAmount ? 'mixed' : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {props.nextCursor ? (
        <p>
          <a href={href(`/admin/supporters?${query({ cursor: props.nextCursor })}`)}>Next page</a>
        </p>
      ) : null}
    </>
  )
}

const TIMELINE_LABELS: Record<string, string> = {
  'account.created': 'Signed up',
  'stripe.checkout.session.completed': 'Completed a checkout',
  'stripe.customer.subscription.created': 'Subscription started',
  'stripe.customer.subscription.updated': 'Subscription changed',
  'stripe.customer.subscription.deleted': 'Subscription ended',
  'stripe.invoice.payment_failed': 'A payment failed',
  'payment.subscription': 'Paid',
  'payment.donation': 'Donated',
  'payment.refund': 'Refunded',
  'comp.granted': 'Comp granted',
  'comp.revoked': 'Comp revoked',
  'comp.ended': 'Comp ended (started paying)',
  'patreon.granted': 'Imported from Patreon',
  'gift.granted': 'Gift membership started (redeemed)',
  'payment.gift': 'Bought a gift membership',
  'patreon.revoked': 'Patreon membership ended',
  'role.changed': 'Role changed',
}

function timelineText(kind: string, details: Record<string, unknown>): string {
  const label = TIMELINE_LABELS[kind] ?? kind
  const amount = typeof details.amount === 'number' && typeof details.currency === 'string'
  const extra = amount ? ` ${formatMoney(Math.abs(details.amount as number), details.currency as string)}` : ''
  const by = typeof details.by === 'string' ? ` by ${details.by}` : ''
  const note = typeof details.note === 'string' ? ` (${details.note})` : ''
  const role = kind === 'role.changed' ? ` from ${String(details.from)} to ${String(details.to)}` : ''
  return `${label}${extra}${role}${note}${by}`
}

export function SupporterPage(props: {
  detail: SupporterDetail
  stripeLinks: { id: string; url: string }[]
  tiers: { id: string; name: string }[]
  now: Date
  error?: string | undefined
  notice?: string | undefined
  /** The viewer is an admin: the page offers to erase the supporter. */
  canErase?: boolean
  eraseError?: string | undefined
}) {
  const { user, entitlements, grants, timeline } = props.detail
  const m = entitlements.membership
  return (
    <>
      <h1>{user.name ?? user.email}</h1>
      {props.notice ? <p role="status">{props.notice}</p> : null}
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      <dl class="facts">
        <dt>E-mail</dt>
        <dd>{user.email}</dd>
        <dt>Account since</dt>
        <dd>{day(user.createdAt)}</dd>
        <dt>Membership</dt>
        <dd>
          {STATUS_LABELS[m.status] ?? m.status}
          {m.source ? ` · ${SOURCE_LABELS[m.source] ?? m.source}` : ''}
          {m.tierName ? ` · ${m.tierName}` : ''}
          {m.amount !== null && m.currency ? ` · ${money(m.amount, m.currency)} a ${m.interval}` : ''}
          {m.until ? ` · until ${day(m.until)}` : ''}
        </dd>
        <dt>Benefits</dt>
        <dd>
          {entitlements.benefits.length ? entitlements.benefits.map((b) => BENEFIT_LABELS[b]).join(', ') : 'None'}
        </dd>
        <dt>In Stripe</dt>
        <dd>
          {props.stripeLinks.length === 0
            ? 'No customer'
            : props.stripeLinks.map((l) => (
                <>
                  <a href={l.url} rel="noopener noreferrer">
                    {l.id}
                  </a>{' '}
                </>
              ))}
        </dd>
      </dl>

      <section aria-labelledby="comps">
        <h2 id="comps">Comps and imported memberships</h2>
        {grants.length === 0 ? <p>None.</p> : null}
        <ul>
          {grants.map((g) => {
            const running = !g.revokedAt && (g.endsAt === null || g.endsAt > props.now)
            return (
              <li>
                {SOURCE_LABELS[g.source]}: {g.tierName ?? 'no tier'}, from {day(g.startsAt)}{' '}
                {g.endsAt ? `until ${day(g.endsAt)}` : 'with no end'}
                {g.revokedAt ? `, revoked ${day(g.revokedAt)}` : ''}
                {g.note ? ` (${g.note})` : ''}
                {running && g.source === 'comp' ? (
                  <form class="inline" method="post" action={href(`/admin/comps/${g.id}/revoke`)}>
                    {' '}
                    <button type="submit">Revoke</button>
                  </form>
                ) : null}
              </li>
            )
          })}
        </ul>
        <form method="post" action={href(`/admin/supporters/${user.id}/comps`)}>
          <h3>Grant a comp</h3>
          <label for="comp-tier">Tier</label>
          <select id="comp-tier" name="tier" required>
            {props.tiers.map((t) => (
              <option value={t.id}>{t.name}</option>
            ))}
          </select>
          <label for="comp-months">Months (empty: until revoked)</label>
          <input id="comp-months" name="months" type="number" min="1" max="120" inputmode="numeric" />
          <label for="comp-note">Note</label>
          <input id="comp-note" name="note" maxlength={500} />
          <p>
            <button type="submit">Grant</button>
          </p>
        </form>
      </section>

      <section aria-labelledby="timeline">
        <h2 id="timeline">Timeline</h2>
        <ol class="timeline">
          {timeline.map((e) => (
            <li>
              <time datetime={e.at.toISOString()}>{e.at.toISOString().slice(0, 16).replace('T', ' ')}</time>{' '}
              {timelineText(e.kind, e.details)}
            </li>
          ))}
        </ol>
      </section>
      {props.canErase ? (
        <section aria-labelledby="erase">
          <h2 id="erase">Erase on request</h2>
          <p>
            When this person asks to be forgotten: removes their address, their name and everything tied to them, as
            deleting their own account does. Payment records are kept for accounting, without name or address; the audit
            log records the erasure by account id. A membership Stripe still bills must be cancelled first. It cannot be
            undone.
          </p>
          <form method="post" action={href(`/admin/supporters/${user.id}/erase`)} novalidate>
            <Field
              id="confirm-erase"
              name="confirm"
              label="Type ERASE to confirm"
              autocomplete="off"
              error={props.eraseError}
            />
            <p>
              <button type="submit">Erase this supporter</button>
            </p>
          </form>
        </section>
      ) : null}
      <p>
        <a href={href('/admin/supporters')}>All supporters</a>
      </p>
    </>
  )
}

export function SupporterErased() {
  return (
    <>
      <h1>Supporter erased</h1>
      <p role="status">
        Their account and everything tied to it are gone. Payment records stay for accounting, without name or address.
      </p>
      <p>
        <a href={href('/admin/supporters')}>All supporters</a>
      </p>
    </>
  )
}

/** Active supporters over 12 months, as an inline SVG line: no script, no third party. */
function TrendChart(props: { points: { month: string; active: number }[] }) {
  const width = 600
  const height = 160
  const pad = 24
  const max = Math.max(1, ...props.points.map((p) => p.active))
  const x = (i: number) => pad + (i * (width - 2 * pad)) / Math.max(1, props.points.length - 1)
  const y = (v: number) => height - pad - (v * (height - 2 * pad)) / max
  const line = props.points.map((p, i) => `${x(i).toFixed(1)},${y(p.active).toFixed(1)}`).join(' ')
  const summary = props.points.map((p) => `${p.month}: ${p.active}`).join('; ')
  return (
    <svg
      class="trend"
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={`Active supporters by month. ${summary}`}
    >
      <line x1={pad} y1={height - pad} x2={width - pad} y2={height - pad} class="axis" />
      <polyline points={line} class="series" fill="none" />
      {props.points.map((p, i) => (
        <circle cx={x(i)} cy={y(p.active)} r="3" class="point">
          <title>{`${p.month}: ${p.active}`}</title>
        </circle>
      ))}
      <text x={pad} y={pad - 8} class="label">
        {max}
      </text>
      <text x={pad} y={height - 6} class="label">
        {props.points[0]?.month ?? ''}
      </text>
      <text x={width - pad} y={height - 6} class="label" text-anchor="end">
        {props.points.at(-1)?.month ?? ''}
      </text>
    </svg>
  )
}

export function MetricsPage(props: { metrics: Metrics }) {
  const { metrics } = props
  return (
    <>
      <h1>Metrics</h1>
      <dl class="facts">
        <dt>Active supporters</dt>
        <dd>{metrics.activeSupporters.toLocaleString('en')}</dd>
        <dt>Monthly recurring revenue</dt>
        <dd>{metrics.mrr.length ? metrics.mrr.map((r) => formatMoney(r.amount, r.currency)).join(' + ') : 'None'}</dd>
        <dt>New in the last 30 days</dt>
        <dd>{metrics.newLast30Days.toLocaleString('en')}</dd>
        <dt>Lapsed in the last 30 days</dt>
        <dd>{metrics.churnedLast30Days.toLocaleString('en')}</dd>
        <dt>Donations this month</dt>
        <dd>
          {metrics.donationsThisMonth.length
            ? metrics.donationsThisMonth.map((d) => `${formatMoney(d.amount, d.currency)} (${d.count})`).join(' + ')
            : 'None'}
        </dd>
      </dl>
      <h2>Active supporters, last 12 months</h2>
      <TrendChart points={metrics.trend} />
    </>
  )
}
