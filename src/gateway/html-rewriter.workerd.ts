/** In the Worker: the runtime's own HTMLRewriter (package.json "imports", condition "workerd"). */
export { HTMLRewriter } from 'htmlrewriter'
