// Whether a request has more header lines than the gateway passes on. nginx bounds the size of
// the headers (large_client_header_buffers) but not their number, and the services behind it
// have their own bounds: meinheld's, compiled in at 128 lines, answered past them in HTML. A
// hundred (gunicorn's default) leaves room for the lines the gateway adds.

const LIMIT = 100;

function too_many(r) {
    return r.rawHeadersIn.length > LIMIT ? '1' : '';
}

export default {too_many};
