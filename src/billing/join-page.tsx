import type { SessionUser } from '../accounts/sessions'
import { formatMoney } from '../util/money'
import { Field } from '../ui/field'
import { href } from '../ui/paths'

export interface TierOffer {
  id: string
  name: string
  description: string
  currency: string
  monthlyAmount: number
  yearlyAmount: number
}

/** The page that replaces a Patreon page: tiers, a one-time gift, or a monthly amount of one's own choosing. */
export function SupportPage(props: {
  tiers: TierOffer[]
  user: SessionUser | null
  currencies: string[]
  /** A tier chosen in advance (an invitation's link): shown first and marked. */
  selected?: string | undefined
  error?: string | undefined
  notice?: string | undefined
}) {
  const emailField = (id: string, required: boolean) =>
    props.user ? null : (
      <Field
        id={id}
        name="email"
        type="email"
        label={required ? 'Your e-mail address' : 'Your e-mail address (optional for a one-time gift)'}
        autocomplete="email"
        required={required}
      />
    )
  return (
    <>
      <h1>Support our journalism</h1>
      {props.notice ? <p role="status">{props.notice}</p> : null}
      {props.user ? null : (
        <p>
          Already a member? <a href={href(`/auth/sign-in?${new URLSearchParams({ next: href('/join') })}`)}>Sign in</a>{' '}
          to change or renew your membership.
        </p>
      )}
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      {props.tiers.length === 0 ? <p>Memberships are not open yet.</p> : null}
      {[...props.tiers]
        .sort((a, b) => Number(b.id === props.selected) - Number(a.id === props.selected))
        .map((tier) => (
          <section aria-labelledby={`tier-${tier.id}`} class={tier.id === props.selected ? 'tier selected' : 'tier'}>
            <h2 id={`tier-${tier.id}`}>{tier.name}</h2>
            {tier.description ? <p>{tier.description}</p> : null}
            <form method="post" action={href('/billing/checkout')}>
              <input type="hidden" name="tier" value={tier.id} />
              {emailField(`email-${tier.id}`, true)}
              <p>
                <button type="submit" name="interval" value="month">
                  {formatMoney(tier.monthlyAmount, tier.currency)} a month
                </button>{' '}
                <button type="submit" name="interval" value="year">
                  {formatMoney(tier.yearlyAmount, tier.currency)} a year
                </button>
              </p>
            </form>
          </section>
        ))}
      <section aria-labelledby="donate-heading">
        <h2 id="donate-heading">Give what you like</h2>
        <form method="post" action={href('/billing/donate')}>
          <Field id="donate-amount" name="amount" label="Amount" required />
          <label for="donate-currency">Currency</label>
          <select id="donate-currency" name="currency">
            {props.currencies.map((c) => (
              <option value={c}>{c.toUpperCase()}</option>
            ))}
          </select>
          <fieldset>
            <legend>How often</legend>
            <label class="choice">
              <input type="radio" name="frequency" value="once" checked /> Once
            </label>
            <label class="choice">
              <input type="radio" name="frequency" value="monthly" /> Every month
            </label>
          </fieldset>
          {emailField('donate-email', false)}
          <p>
            <button type="submit">Continue to payment</button>
          </p>
        </form>
      </section>
    </>
  )
}
