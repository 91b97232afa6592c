//! The call backs in progress (click to call back, issue 16): what the operator side
//! keeps of each (`operator_side/dial_out.rs` drives them): the item, the operator, the
//! number's URI, the operator's media waiting for the bridge, our INVITE to the trunk.
//! At most one per operator (the ACD reserves them), so the tables are bounded by the
//! configured operators.

use std::collections::HashMap;

use bytes::Bytes;

use crate::call::CallId;
use crate::config::OperatorId;
use crate::engine::output::MediaCommand;
use crate::sip::transaction::InviteClientTx;
use crate::sip::Peer;

/// The call backs in progress (at most one per operator) and their trunk INVITEs.
#[derive(Default)]
pub(crate) struct DialOuts {
    pub(crate) by_call: HashMap<CallId, DialOut>,
    /// Via branch of a trunk INVITE → its call.
    pub(crate) by_branch: HashMap<String, CallId>,
}

/// One call back.
pub(crate) struct DialOut {
    /// The worklist item called back.
    pub(crate) item: String,
    /// The operator reserved for it.
    pub(crate) operator: OperatorId,
    /// The number's Request-URI, from the trunk template.
    pub(crate) uri: String,
    /// The operator's media once they answered: bridged when the number answers.
    pub(crate) operator_media: Option<MediaCommand>,
    /// Our INVITE to the number, once the operator answered.
    pub(crate) trunk: Option<TrunkLeg>,
    /// How it went so far, for the item (`operator did not answer`, `busy`...).
    pub(crate) result: &'static str,
}

/// Our INVITE to the trunk.
pub(crate) struct TrunkLeg {
    /// Its Via branch (responses are matched by it).
    pub(crate) branch: String,
    /// Its client transaction, until it terminates.
    pub(crate) tx: Option<InviteClientTx>,
    /// Where it went (a response from anywhere else is not believed).
    pub(crate) peer: Peer,
    /// The number answered (2xx).
    pub(crate) answered: bool,
    /// Our ACK for that 2xx, sent again for each retransmission of it.
    pub(crate) ack: Option<Bytes>,
}

impl DialOuts {
    /// Whether `call` is a call back.
    pub(crate) fn contains(&self, call: CallId) -> bool {
        self.by_call.contains_key(&call)
    }
}
