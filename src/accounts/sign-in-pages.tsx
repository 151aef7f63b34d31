import { Field } from '../ui/field'
import { href } from '../ui/paths'

/** Pages of the sign-in flow. Plain forms: everything works without JavaScript. */

export function SignInForm(props: { email?: string; next?: string; error?: string; reason?: string }) {
  return (
    <>
      <h1>Sign in</h1>
      {props.reason === 'role' ? (
        <p class="error">That page is for staff. Sign in with a staff account to see it.</p>
      ) : null}
      <p>Enter your e-mail address and we will send you a link to sign in. No password needed.</p>
      <form method="post" action={href('/auth/sign-in')} novalidate>
        <Field
          id="email"
          name="email"
          type="email"
          label="E-mail address"
          autocomplete="email"
          required
          value={props.email}
          error={props.error}
        />
        {props.next ? <input type="hidden" name="next" value={props.next} /> : null}
        <p>
          <button type="submit">Send me a sign-in link</button>
        </p>
      </form>
    </>
  )
}

export function CheckMail() {
  return (
    <>
      <h1>Check your e-mail</h1>
      <p>
        If that address can receive e-mail, a sign-in link is on its way. It works once, for 15 minutes. Open it on this
        device to sign in here.
      </p>
      <p class="muted">
        Nothing arrived? Check your spam folder, or <a href={href('/auth/sign-in')}>ask for a new link</a>.
      </p>
    </>
  )
}

/**
 * What an e-mailed link opens. Mail scanners fetch links before people do,
 * so a GET uses nothing up: the button's POST does.
 */
export function ConfirmLink(props: { token: string; purpose: 'sign_in' | 'change_email' }) {
  const signIn = props.purpose === 'sign_in'
  return (
    <>
      <h1>{signIn ? 'Finish signing in' : 'Confirm your new address'}</h1>
      <p>{signIn ? 'Press the button to sign in on this device.' : 'Press the button to start using this address.'}</p>
      <form method="post" action={href('/auth/verify')}>
        <input type="hidden" name="token" value={props.token} />
        <button type="submit">{signIn ? 'Sign in' : 'Use this address'}</button>
      </form>
    </>
  )
}

export function LinkProblem(props: { message: string }) {
  return (
    <>
      <h1>This link cannot be used</h1>
      <p>{props.message}</p>
      <p>
        <a href={href('/auth/sign-in')}>Get a new sign-in link</a>
      </p>
    </>
  )
}
