import { Layout } from './layout'
import { withBase } from './paths'

const TITLES: Record<number, string> = {
  400: 'That request did not make sense',
  401: 'Please sign in',
  403: 'You do not have access to this page',
  404: 'Page not found',
  413: 'That was too large',
  429: 'Too many attempts',
  500: 'Something went wrong',
  502: 'The site cannot be reached',
  503: 'We are having trouble right now',
  504: 'The site is taking too long',
}

export function ErrorPage(props: {
  status: number
  message: string
  requestId: string
  publication?: string | undefined
  testMode?: boolean | undefined
  /** config.MASTHEAD_PATH; joined here, as this page is called as a function, outside the layout's provider. */
  base?: string | undefined
  home?: string | undefined
}) {
  const title = TITLES[props.status] ?? (props.status >= 500 ? 'Something went wrong' : 'That did not work')
  return (
    <Layout title={title} publication={props.publication} testMode={props.testMode} base={props.base} home={props.home}>
      <h1>{title}</h1>
      <p>{props.message}</p>
      <p class="muted">
        Error {props.status} · request id <code>{props.requestId}</code>
      </p>
      <p>
        <a href={props.home ?? withBase(props.base ?? '', '/')}>Back to the front page</a>
      </p>
    </Layout>
  )
}
