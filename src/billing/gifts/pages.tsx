import { GIFT_MONTHS } from '../../db/schema'
import type { FieldErrors } from '../../http/input'
import { Field } from '../../ui/field'
import { href } from '../../ui/paths'
import { formatMoney } from '../../util/money'
import type { GivenGift } from './gifts'
import { FROM_MAX, giftPrice, MESSAGE_MAX } from './gifts'

export interface GiftTier {
  id: string
  name: string
  currency: string
  monthlyAmount: number
  yearlyAmount: number
}

/** What the form was sent with, to show it again beside its errors. */
export type GiftFormValues = Partial<
  Record<'tier' | 'months' | 'recipient_email' | 'deliver_on' | 'message' | 'from_name' | 'email', string>
>

const day = (d: Date) => d.toISOString().slice(0, 10)

const STATE_LABELS: Record<GivenGift['state'], string> = {
  paid: 'Paid: it will be e-mailed on the day',
  delivered: 'E-mailed, not started yet',
  redeemed: 'Started',
  refunded: 'Refunded: it has ended, or will not be sent',
  cancelled: 'Cancelled: the recipient’s account was deleted',
}

function ErrorText(props: { id: string; error: string | undefined }) {
  return props.error ? (
    <p id={props.id} class="error">
      {props.error}
    </p>
  ) : null
}

/** /gift: give months of a tier to someone else. */
export function GiftPage(props: {
  tiers: GiftTier[]
  signedIn: boolean
  today: string
  values?: GiftFormValues
  errors?: FieldErrors
  notice?: string | undefined
  given?: GivenGift[]
}) {
  const values = props.values ?? {}
  const errors = props.errors ?? {}
  const months = values.months ?? '12'
  const described = (name: string) =>
    errors[name] ? { 'aria-invalid': 'true' as const, 'aria-describedby': `gift-${name}-error` } : {}
  return (
    <>
      <h1>Give a membership</h1>
      <p>
        Give 3, 6 or 12 months of a membership to someone else. You pay once; we e-mail them on the day you choose with
        a link that starts it. It ends by itself and never renews.
      </p>
      {props.notice ? <p role="status">{props.notice}</p> : null}
      {errors.form ? (
        <p class="error" role="alert">
          {errors.form}
        </p>
      ) : null}
      {props.tiers.length === 0 ? (
        <p>Memberships are not open yet.</p>
      ) : (
        <form method="post" action={href('/billing/gift')} novalidate>
          <fieldset>
            <legend>Membership</legend>
            {props.tiers.map((tier) => (
              <label class="choice">
                <input
                  type="radio"
                  name="tier"
                  value={tier.id}
                  checked={(values.tier ?? props.tiers[0]!.id) === tier.id}
                />
                <span>
                  {tier.name}:{' '}
                  {GIFT_MONTHS.map((m) => `${formatMoney(giftPrice(tier, m), tier.currency)} for ${m} months`).join(
                    ', ',
                  )}
                </span>
              </label>
            ))}
            <ErrorText id="gift-tier-error" error={errors.tier} />
          </fieldset>
          <label for="gift-months">How long</label>
          <select id="gift-months" name="months" {...described('months')}>
            {GIFT_MONTHS.map((m) => (
              <option value={String(m)} selected={months === String(m)}>
                {m} months
              </option>
            ))}
          </select>
          <ErrorText id="gift-months-error" error={errors.months} />
          <Field
            id="gift-recipient_email"
            name="recipient_email"
            type="email"
            label="Their e-mail address"
            autocomplete="off"
            required
            value={values.recipient_email}
            error={errors.recipient_email}
          />
          <Field
            id="gift-deliver_on"
            name="deliver_on"
            type="date"
            label="E-mail it to them on"
            required
            value={values.deliver_on ?? props.today}
            error={errors.deliver_on}
          />
          <Field
            id="gift-from_name"
            name="from_name"
            label={`Your name, as they will see it (optional, up to ${FROM_MAX} characters)`}
            autocomplete="name"
            value={values.from_name}
            error={errors.from_name}
          />
          <label for="gift-message">{`A message (optional, up to ${MESSAGE_MAX} characters)`}</label>
          <textarea id="gift-message" name="message" rows={4} maxlength={MESSAGE_MAX} {...described('message')}>
            {values.message ?? ''}
          </textarea>
          <ErrorText id="gift-message-error" error={errors.message} />
          {props.signedIn ? null : (
            <Field
              id="gift-email"
              name="email"
              type="email"
              label="Your e-mail address, for the receipt"
              autocomplete="email"
              required
              value={values.email}
              error={errors.email}
            />
          )}
          <p class="muted">
            We keep their address and your message only until the gift is delivered and started, and encrypted.
          </p>
          <p>
            <button type="submit">Pay and give</button>
          </p>
        </form>
      )}
      {props.given && props.given.length > 0 ? (
        <section aria-labelledby="given-heading">
          <h2 id="given-heading">Gifts you have given</h2>
          <ul>
            {props.given.map((g) => (
              <li>
                {g.tierName ?? 'Membership'}, {g.months} months, {formatMoney(g.amount, g.currency)}, to be e-mailed on{' '}
                {day(g.deliverAt)}: {STATE_LABELS[g.state]}
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </>
  )
}

export function GiftThanks() {
  return (
    <>
      <h1>Thank you</h1>
      <p>
        Your payment went through. Your receipt is on its way by e-mail, and we will e-mail the gift on the day you
        chose.
      </p>
      <p>
        <a href={href('/gift')}>Give another</a>
      </p>
    </>
  )
}

/** Opening the link only shows a button: mail scanners that fetch it start nothing. */
export function RedeemGift(props: { token: string; tierName: string | null; months: number }) {
  return (
    <>
      <h1>Your gift</h1>
      <p>
        {props.months} months of {props.tierName ?? 'membership'}. Press the button to sign in and start it. It ends by
        itself; nothing is charged to you.
      </p>
      <form method="post" action={href('/gift/redeem')}>
        <input type="hidden" name="token" value={props.token} />
        <button type="submit">Start my gift</button>
      </form>
    </>
  )
}

export function GiftLinkProblem(props: { message: string }) {
  return (
    <>
      <h1>This gift link cannot be used</h1>
      <p>{props.message}</p>
      <p>
        <a href={href('/auth/sign-in')}>Sign in</a>
      </p>
    </>
  )
}
