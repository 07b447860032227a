// The one thing the vendored bundle exports: JsSIP itself, as the default export.
import JsSIP from 'jssip';
export default JsSIP;
