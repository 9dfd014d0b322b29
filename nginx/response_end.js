// Whether a response went out whole: the gateway's access line says `body=whole` when the
// last of the body passed, `body=cut` when some of it did and the rest never came (the service
// died or failed mid-stream, the client left, a timeout), and `body=-` for an answer nginx made
// itself. nginx's own variables cannot tell: a stream cut by its service still logs 200 and
// $request_completion "OK".

function track(r, data, flags) {
    r.variables.response_body = flags.last ? 'whole' : 'cut';
    r.sendBuffer(data, flags);
}

export default {track};
