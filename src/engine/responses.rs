//! Responses to our requests: an INVITE's go to the operator side (an operator's fork,
//! or a call back's INVITE to the trunk), the others (BYE, CANCEL) to their client
//! transaction; one that matches nothing is counted as stray.

use std::time::Instant;

use super::Engine;
use crate::sip::{Method, Peer, Response};

impl Engine {
    pub(super) fn on_response(&mut self, now: Instant, peer: Peer, resp: Response) {
        let branch = resp.head.top_via().and_then(|v| v.branch()).unwrap_or_default().to_string();
        let ours = if resp.head.cseq.method == Method::Invite {
            let (ops, ctx) = self.split();
            ops.invite_response(now, &peer, &branch, &resp, ctx)
        } else {
            let key = if resp.head.cseq.method == Method::Cancel { format!("CANCEL {branch}") } else { branch };
            self.txs.client_response(now, &peer, &key, resp.status, &mut self.fx)
        };
        if !ours {
            self.stats.stray_responses += 1;
        }
    }
}
