import { Field } from '../ui/field'
import type { Membership } from '../entitlements/membership'
import type { GiftMembership } from '../entitlements/entitlements'
import { formatMoney } from '../util/money'
import { href } from '../ui/paths'

const NOTICES: Record<string, string> = {
  'email-changed': 'Your e-mail address has been changed.',
  'email-sent': 'We sent a link to your new address. Follow it within 15 minutes to finish the change.',
  'gift-started': 'Your gift membership has started. Enjoy!',
  'gift-waits':
    'Thank you for accepting your gift. You already pay for a membership, so the gift starts when that period ends.',
}

const day = (d: Date) => d.toISOString().slice(0, 10)

function describeMembership(m: Membership): string {
  const what =
    m.tierName && m.amount !== null && m.currency
      ? `${m.tierName}, ${formatMoney(m.amount, m.currency)} a ${m.interval}`
      : ''
  switch (m.status) {
    case 'active':
    case 'trialing':
      return `${what}. Thank you for your support.`
    case 'past_due':
      return `${what}. Your last payment did not go through; please update your card.`
    case 'canceled_at_period_end':
      return `${what}. Canceled: your benefits continue until ${m.until ? day(m.until) : 'the end of the period'}.`
    case 'incomplete':
      return 'Your first payment has not gone through yet.'
    case 'ended':
      return 'Your membership has ended.'
    default:
      return 'You are not a paying supporter yet.'
  }
}

export function AccountPage(props: {
  membership: Membership
  hasBillingAccount: boolean
  /** The signed-in account, its address decrypted. */
  user: { email: string; role: string }
  notice?: string | undefined
  emailError?: string | undefined
  newEmail?: string | undefined
  deleteError?: string | undefined
  /** Gift memberships received (src/billing/gifts), newest first, and the time to compare them with. */
  gifts?: { list: GiftMembership[]; now: Date } | undefined
}) {
  const { user } = props
  const notice = props.notice ? NOTICES[props.notice] : undefined
  return (
    <>
      <h1>Your account</h1>
      {notice ? <p role="status">{notice}</p> : null}
      <dl>
        <dt>E-mail</dt>
        <dd>{user.email}</dd>
        <dt>Role</dt>
        <dd>{user.role}</dd>
        <dt>Membership</dt>
        <dd>{describeMembership(props.membership)}</dd>
      </dl>
      {props.hasBillingAccount ? (
        <form method="post" action={href('/billing/portal')}>
          <button type="submit">Manage billing</button>
          <span class="muted"> Change tier, update your card, see invoices or cancel.</span>
        </form>
      ) : (
        <p>
          <a href={href('/join')}>Become a supporter</a>
        </p>
      )}

      {props.gifts && props.gifts.list.length > 0 ? (
        // Gift memberships (src/billing/gifts): each ends by itself and never renews.
        <section aria-labelledby="gifts-heading">
          <h2 id="gifts-heading">Gift memberships</h2>
          <ul>
            {props.gifts.list.map((g) => (
              <li>
                {g.tierName ?? 'Membership'}, a gift: from {day(g.startsAt)}
                {g.endsAt ? ` until ${day(g.endsAt)}` : ''}
                {g.startsAt > props.gifts!.now ? ' (starts when your paid period ends)' : ''}
                {g.endsAt && g.endsAt <= props.gifts!.now ? ' (ended)' : ''}
              </li>
            ))}
          </ul>
          <p class="muted">A gift ends by itself: it never renews and nothing is charged to you.</p>
        </section>
      ) : null}

      <section aria-labelledby="email-heading">
        <h2 id="email-heading">Change e-mail address</h2>
        <form method="post" action={href('/account/email')} novalidate>
          <Field
            id="new-email"
            name="email"
            type="email"
            label="New e-mail address"
            autocomplete="email"
            required
            value={props.newEmail}
            error={props.emailError}
          />
          <p>
            <button type="submit">Send a confirmation link</button>
          </p>
        </form>
      </section>

      <section aria-labelledby="data-heading">
        <h2 id="data-heading">Your data</h2>
        {/* Year-end statements (src/billing/statements): every payment of a year, printable. */}
        <p>
          <a href={href('/account/statements')}>Your statements of payments, by year</a>
        </p>
        <p>
          <a href={href('/account/data')} download>
            Download everything we hold about you (JSON)
          </a>
        </p>
        <p class="muted">
          Your account and name, when your sessions expire, the links we e-mailed you, your payments and memberships,
          comps with their notes, your Patreon record, and the audit entries about you. Nothing about anyone else.
        </p>
      </section>

      <section aria-labelledby="sessions-heading">
        <h2 id="sessions-heading">Signing out</h2>
        <form method="post" action={href('/auth/sign-out')} class="inline">
          <button type="submit">Sign out</button>
        </form>{' '}
        <form method="post" action={href('/auth/sign-out-everywhere')} class="inline">
          <button type="submit">Sign out of all devices</button>
        </form>
      </section>

      <section aria-labelledby="delete-heading">
        <h2 id="delete-heading">Delete your account</h2>
        <p>
          This removes your e-mail address, your name and everything tied to them. It cannot be undone. Records of
          payments that the law requires us to keep are kept without your name or address. A membership you still pay
          for must be cancelled first.
        </p>
        <form method="post" action={href('/account/delete')} novalidate>
          <Field
            id="confirm-delete"
            name="confirm"
            label="Type DELETE to confirm"
            autocomplete="off"
            error={props.deleteError}
          />
          <p>
            <button type="submit">Delete my account</button>
          </p>
        </form>
      </section>
    </>
  )
}

export function EmailChangeSent() {
  return (
    <>
      <h1>Check your new inbox</h1>
      <p>{NOTICES['email-sent']}</p>
      <p>
        <a href={href('/account')}>Back to your account</a>
      </p>
    </>
  )
}

export function AccountDeleted() {
  return (
    <>
      <h1>Your account has been deleted</h1>
      <p>We no longer hold your e-mail address. Thank you for reading.</p>
    </>
  )
}
