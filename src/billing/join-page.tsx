import type { SessionUser } from '../accounts/sessions'
import type { Config } from '../config'
import { formatMoney } from '../util/money'
import { chargeStep, minorUnitExponent } from '../util/currencies'
import { Field } from '../ui/field'
import { href } from '../ui/paths'
import { feeCoverFor, feeCoverRuleWords, feeCoverWording, fixedPart, offersFeeCover } from './fee-cover'
import { benefitWords, FREQUENCIES, FREQUENCY_WORDS, suggestionsFor } from './giving'
import type { GoalProgress } from './goal'
import type { TierOffer } from './tiers/tiers'

type JoinConfig = Config

/**
 * The page readers join from: tiers to compare (a monthly / yearly switch, benefits in plain
 * words), a gift with suggested amounts for each frequency, the goal, and the fee cover. Phone
 * first; the switches are plain CSS (:has), so the page works fully without its script
 * (/assets/join.js), which only shows the fee and the total as the amount changes.
 */
export function SupportPage(props: {
  tiers: TierOffer[]
  user: SessionUser | null
  config: JoinConfig
  goal: GoalProgress | null
  /** A tier chosen in advance (an invitation's link): shown first and marked. */
  selected?: string | undefined
  error?: string | undefined
  notice?: string | undefined
}) {
  const tiers = [...props.tiers].sort((a, b) => Number(b.id === props.selected) - Number(a.id === props.selected))
  return (
    <div class="join">
      <h1>Support our journalism</h1>
      <p class="lede">Our reporting is paid for by readers. Choose a membership, or give what you like.</p>
      {props.notice ? <p role="status">{props.notice}</p> : null}
      {props.error ? (
        <p class="error" role="alert">
          {props.error}
        </p>
      ) : null}
      {props.goal ? <GoalMeter goal={props.goal} /> : null}
      {props.user ? null : (
        <p>
          Already a member? <a href={href(`/auth/sign-in?${new URLSearchParams({ next: href('/join') })}`)}>Sign in</a>{' '}
          to change or renew your membership.
        </p>
      )}
      {tiers.length === 0 ? <p>Memberships are not open yet.</p> : <Tiers {...props} tiers={tiers} />}
      <Give {...props} />
      {/* Gift memberships have their own page (src/billing/gifts). */}
      <p class="give-membership">
        Or <a href={href('/gift')}>give a membership</a> to someone else.
      </p>
    </div>
  )
}

/** "412 of 500 supporters", with a meter (a native element: no inline style is allowed). */
export function GoalMeter(props: { goal: GoalProgress }) {
  const { goal } = props
  return (
    <div class="goal">
      <p id="goal-words" class="goal-words">
        <strong>{goal.words}</strong>
        {goal.kind === 'supporters' ? ': help us reach our goal.' : ' of our monthly goal: help us reach it.'}
      </p>
      <progress max={goal.target} value={Math.min(goal.current, goal.target)} aria-labelledby="goal-words" />
    </div>
  )
}

const emailField = (user: SessionUser | null, id: string, required: boolean) =>
  user ? null : (
    <Field
      id={id}
      name="email"
      type="email"
      label={required ? 'Your e-mail address' : 'Your e-mail address (optional for a one-time gift)'}
      autocomplete="email"
      required={required}
    />
  )

/** The cards, and the switch that shows their monthly or yearly prices (CSS: .tiers:has(#show-yearly:checked)). */
function Tiers(props: {
  tiers: TierOffer[]
  user: SessionUser | null
  config: JoinConfig
  selected?: string | undefined
}) {
  const best = Math.max(0, ...props.tiers.map((t) => savingPercent(t.monthlyAmount, t.yearlyAmount)))
  return (
    <div class="tiers">
      <h2 id="tiers-heading">Become a member</h2>
      <fieldset class="switch">
        <legend>Pay</legend>
        <input type="radio" id="show-monthly" name="show_interval" value="month" checked />
        <label for="show-monthly">Monthly</label>
        <input type="radio" id="show-yearly" name="show_interval" value="year" />
        <label for="show-yearly">Yearly{best > 0 ? ` (save up to ${best}%)` : ''}</label>
      </fieldset>
      <div class="tier-cards">
        {props.tiers.map((tier) => (
          <TierCard tier={tier} user={props.user} config={props.config} selected={tier.id === props.selected} />
        ))}
      </div>
    </div>
  )
}

const savingPercent = (monthly: number, yearly: number) =>
  monthly * 12 > yearly ? Math.floor(((monthly * 12 - yearly) * 100) / (monthly * 12)) : 0

function TierCard(props: { tier: TierOffer; user: SessionUser | null; config: JoinConfig; selected: boolean }) {
  const { tier, config } = props
  const { currency, monthlyAmount, yearlyAmount } = tier
  const saves = monthlyAmount * 12 - yearlyAmount
  const words = benefitWords(tier.benefits)
  const others = tier.prices.filter((p) => p.currency !== currency && p.onSale)
  const fee = offersFeeCover(config)
  return (
    <section aria-labelledby={`tier-${tier.id}`} class={props.selected ? 'tier tier-card selected' : 'tier tier-card'}>
      <h3 id={`tier-${tier.id}`}>{tier.name}</h3>
      {props.selected ? <p class="badge">Chosen for you</p> : null}
      <p class="price">
        <span class="per-month">
          <strong>{formatMoney(monthlyAmount, currency)}</strong> a month
        </span>
        <span class="per-year">
          <strong>{formatMoney(yearlyAmount, currency)}</strong> a year
          {saves > 0 ? <span class="saving"> (you save {formatMoney(saves, currency)})</span> : null}
        </span>
      </p>
      {tier.trialDays > 0 ? <p class="trial">{tier.trialDays}-day free trial</p> : null}
      {words.length ? (
        <ul class="benefits">
          {words.map((w) => (
            <li>{w}</li>
          ))}
        </ul>
      ) : null}
      {tier.description ? <p>{tier.description}</p> : null}
      <form method="post" action={href('/billing/checkout')}>
        <input type="hidden" name="tier" value={tier.id} />
        {emailField(props.user, `email-${tier.id}`, true)}
        {others.length ? (
          <>
            <label for={`currency-${tier.id}`}>Pay in</label>
            <select id={`currency-${tier.id}`} name="currency">
              {tier.prices
                .filter((p) => p.currency === currency || p.onSale)
                .map((p) => (
                  <option value={p.currency}>
                    {`${p.currency.toUpperCase()}: ${formatMoney(p.monthlyAmount, p.currency)} a month, ${formatMoney(p.yearlyAmount, p.currency)} a year`}
                  </option>
                ))}
            </select>
          </>
        ) : null}
        {fee ? (
          <label class="choice fee-cover">
            <input type="checkbox" name="cover_fees" value="on" checked />
            <span>
              {feeCoverWording(config)}
              <span class="per-month">
                {' '}
                (adds {formatMoney(feeCoverFor(config, monthlyAmount, currency), currency)} a month)
              </span>
              <span class="per-year">
                {' '}
                (adds {formatMoney(feeCoverFor(config, yearlyAmount, currency), currency)} a year)
              </span>
            </span>
          </label>
        ) : null}
        <p class="actions">
          <button type="submit" name="interval" value="month" class="primary per-month">
            Join for {formatMoney(monthlyAmount, currency)} a month
          </button>
          <button type="submit" name="interval" value="year" class="primary per-year">
            Join for {formatMoney(yearlyAmount, currency)} a year
          </button>
        </p>
      </form>
    </section>
  )
}

/**
 * A gift: how often (once, monthly, yearly), the admin's suggested amounts for each (CSS shows
 * the set of the frequency chosen: .give:has(#frequency-yearly:checked)), or another amount.
 */
function Give(props: { user: SessionUser | null; config: JoinConfig }) {
  const { config } = props
  const currencies = config.SUPPORTED_CURRENCIES
  const main = currencies[0]!
  const fee = offersFeeCover(config)
  const data = fee
    ? {
        'data-fee-bp': String(config.FEE_COVER_PERCENT),
        'data-fee-fixed': JSON.stringify(Object.fromEntries(currencies.map((c) => [c, fixedPart(config, c)]))),
        'data-steps': JSON.stringify(Object.fromEntries(currencies.map((c) => [c, chargeStep(c)]))),
      }
    : {}
  return (
    <section aria-labelledby="donate-heading" class="give">
      <h2 id="donate-heading">Give what you like</h2>
      <form
        method="post"
        action={href('/billing/donate')}
        class="give-form"
        data-currency={main}
        data-exponents={JSON.stringify(Object.fromEntries(currencies.map((c) => [c, minorUnitExponent(c)])))}
        {...data}
      >
        <fieldset class="frequency">
          <legend>How often</legend>
          {FREQUENCIES.map((frequency) => (
            <>
              <input
                type="radio"
                id={`frequency-${frequency}`}
                name="frequency"
                value={frequency}
                checked={frequency === 'once'}
              />
              <label for={`frequency-${frequency}`}>{FREQUENCY_WORDS[frequency].label}</label>
            </>
          ))}
        </fieldset>
        {FREQUENCIES.map((frequency) => (
          <fieldset class="amounts" data-frequency={frequency}>
            <legend>Amount{FREQUENCY_WORDS[frequency].per || ', once'}</legend>
            {suggestionsFor(config, frequency, main).map((s, i) => (
              <>
                <input
                  type="radio"
                  id={`suggested-${frequency}-${i}`}
                  name={`suggested_${frequency}`}
                  value={s.text}
                  checked={s.chosen}
                />
                <label for={`suggested-${frequency}-${i}`} data-major={s.text}>
                  {formatMoney(s.amount, main)}
                  {FREQUENCY_WORDS[frequency].per}
                </label>
              </>
            ))}
          </fieldset>
        ))}
        <label for="donate-amount">Other amount</label>
        <input id="donate-amount" name="amount" inputmode="decimal" autocomplete="off" />
        {currencies.length > 1 ? (
          <>
            <label for="donate-currency">Currency</label>
            <select id="donate-currency" name="currency">
              {currencies.map((c) => (
                <option value={c}>{c.toUpperCase()}</option>
              ))}
            </select>
          </>
        ) : (
          <input type="hidden" name="currency" value={main} />
        )}
        {fee ? (
          <>
            <label class="choice fee-cover">
              <input type="checkbox" name="cover_fees" value="on" checked />
              <span>
                {feeCoverWording(config)} (adds {feeCoverRuleWords(config, main)} to the amount, rounded up)
              </span>
            </label>
            <p class="fee-live" data-fee-live aria-live="polite"></p>
          </>
        ) : null}
        {emailField(props.user, 'donate-email', false)}
        {props.user ? null : (
          <label class="choice">
            <input type="checkbox" name="keep_for_statements" value="on" />
            <span>
              Keep a one-time gift on a year-end statement for my taxes (this makes an account for the address given at
              payment, kept encrypted; without it we keep no account, and the receipt is your record)
            </span>
          </label>
        )}
        <p class="actions">
          <button type="submit" class="primary">
            Continue to payment
          </button>
        </p>
      </form>
      <script src={href('/assets/join.js')} defer></script>
    </section>
  )
}
