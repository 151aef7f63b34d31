import type { Context } from 'hono'
import { PLEDGE_BENEFITS } from '../entitlements/membership'
import { absoluteUrl } from '../http/paths'
import type { AppEnv } from '../services'
import { href } from '../ui/paths'
import { benefitWords } from './giving'
import { welcomeLines, type WelcomeDetails } from './messages'
import { getTier } from './tiers/tiers'

export interface ThanksFacts {
  publication: string
  signedIn: boolean
  /** A membership's welcome (a tier or a regular gift); null for a one-time gift. */
  welcome: WelcomeDetails | null
}

/**
 * What the thanks page says, from the return URL Masthead gave Checkout (checkout-routes.tsx):
 * `kind` (tier, pledge, donation), `tier`, `interval`, `trial`. It chooses words only.
 */
export async function thanksFacts(c: Context<AppEnv>): Promise<ThanksFacts> {
  const { config, db } = c.var.services
  const kind = c.req.query('kind')
  const base = {
    signIn: absoluteUrl(config, '/auth/sign-in'),
    account: absoluteUrl(config, '/account'),
    trialDays: Math.min(Math.max(Number(c.req.query('trial') ?? 0) || 0, 0), 730),
  }
  let welcome: WelcomeDetails | null = null
  const tierId = c.req.query('tier')
  if (kind === 'tier' && tierId && tierId.length <= 64) {
    const tier = await getTier(db, tierId)
    if (tier) {
      welcome = {
        ...base,
        what: `your ${tier.name} membership`,
        benefits: benefitWords(tier.benefits),
        description: tier.description,
      }
    }
  } else if (kind === 'pledge') {
    const yearly = c.req.query('interval') === 'year'
    welcome = {
      ...base,
      trialDays: 0,
      what: `your ${yearly ? 'yearly' : 'monthly'} gift`,
      benefits: benefitWords(PLEDGE_BENEFITS),
      description: '',
    }
  }
  return { publication: config.PUBLICATION_NAME, signedIn: c.var.user !== null, welcome }
}

/** After Checkout: the welcome at once, and for a reader who paid signed out, how to sign in. */
export function ThanksPage(props: ThanksFacts) {
  const lines = props.welcome ? welcomeLines(props.publication, props.welcome) : null
  return (
    <div class="thanks">
      <h1>Thank you</h1>
      {lines ? (
        <>
          <p class="lede">{lines.intro}</p>
          {lines.gives.length ? (
            <section aria-labelledby="gives-heading">
              <h2 id="gives-heading">What it gives you</h2>
              <ul class="benefits">
                {lines.gives.map((line) => (
                  <li>{line}</li>
                ))}
              </ul>
            </section>
          ) : null}
          <p>We have e-mailed you this welcome too, to the address you gave at checkout.</p>
        </>
      ) : (
        <p class="lede">Your gift went through. It pays for reporting that stays open to everyone.</p>
      )}
      {props.signedIn ? (
        <p>
          It shows on your account within a minute. To change your card or plan, or to cancel, open{' '}
          <a href={href('/account')}>your account</a> and choose "Manage billing".
        </p>
      ) : (
        <section aria-labelledby="sign-in-heading" class="sign-in-how">
          <h2 id="sign-in-heading">How to sign in</h2>
          <p>
            This page does not sign you in. Open{' '}
            <a href={href(`/auth/sign-in?${new URLSearchParams({ next: href('/account') })}`)}>Sign in</a> and enter the
            e-mail address you gave at checkout: we e-mail you a link, and that link signs you in. There is no password.
          </p>
          <p>Once signed in, your account is where you manage billing: your card, your plan, or cancelling.</p>
        </section>
      )}
    </div>
  )
}
