#!/usr/bin/env python3
"""The call end to end: a real livekit-server, Convene (two replicas) behind Envoy, a Python host
and the join page in headless Chromium as the patient. run.sh starts everything inside a private
network namespace and runs this with:

  EDGE             127.0.0.1:<port> of Envoy (gRPC; the page uses gRPC-Web on the same port)
  CONVENE_API_KEY  the tenant's key (never printed)
  LK_URL, LK_API_KEY, LK_API_SECRET   livekit-server and its key (the secret never printed)
  PAGE_URL         http://127.0.0.1:<port>/ of the static server of client-stubs/web/join/dist
  GATE_URL         http://127.0.0.1:<port> of webhook_gate.py (LiveKit's webhook target)
  DRIVER           client-stubs/web/join/test/driver.mjs;  SHOTS  the screenshot directory
  RECONCILE_SECONDS  the servers' CONVENE_RECONCILE_INTERVAL in seconds
  TWILIO_URL       http://127.0.0.1:<port> of fake_twilio.py (the replicas' CONVENE_TWILIO_API_BASE)
  TENANT           the tenant's id
  E2E_TWILIO_ACCOUNT_SID, E2E_TWILIO_API_KEY_SID, E2E_TWILIO_API_KEY_SECRET, E2E_TWILIO_AUTH_TOKEN
                   the tenant's (fake) Twilio account, configured in step 7 (secrets never printed)

Prints PASS/FAIL (and SKIP) lines; exits 1 if any check failed. Tokens, codes, credentials and
keys are never printed, and join links (which carry codes), SMS texts and phone numbers neither.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import traceback
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(ROOT / "server/src/test/livekit-e2e"))
import scenario as lke  # noqa: E402  the LiveKit e2e's LiveKit, Participant, check and safe
sys.path.insert(0, str(ROOT / "envoy/e2e"))
from webhooks import twilio_signature  # noqa: E402  X-Twilio-Signature (PROVIDERS.md section 3)

import grpc  # noqa: E402
from google.protobuf import duration_pb2, timestamp_pb2  # noqa: E402
from livekit import api, rtc  # noqa: E402

from convene import ConveneClient, error_details  # noqa: E402
from convene.v1 import (invitation_service_pb2 as inv, invitation_service_pb2_grpc)  # noqa: E402
from convene.v1 import (credential_service_pb2 as cr, credential_service_pb2_grpc, group_pb2,  # noqa: E402
                        group_service_pb2 as gs, group_service_pb2_grpc)
from convene.v1 import (call_service_pb2 as cs, call_service_pb2_grpc, provider_config_service_pb2 as pc,  # noqa: E402
                        provider_config_service_pb2_grpc, provider_pb2, session_pb2, session_service_pb2 as ss,
                        session_service_pb2_grpc, token_service_pb2 as ts, token_service_pb2_grpc)

check = lke.check
safe = lke.safe
T = 10
SHOTS = Path(os.environ["SHOTS"])
RECONCILE = float(os.environ.get("RECONCILE_SECONDS", "3"))
EV = session_pb2.SessionEventType


class Browser:
    """The join page in headless Chromium, through driver.mjs (one JSON line each way)."""

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "node", os.environ["DRIVER"], stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=open(os.environ["BROWSER_LOG"], "ab"), limit=1 << 20)

    async def do(self, op: str, deadline: float = 60, **kw) -> dict:
        self.proc.stdin.write((json.dumps({"op": op, **kw}) + "\n").encode())
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), deadline)
        return json.loads(line) if line else {"ok": False, "error": "driver exited"}

    async def wait(self, tab: str, states: list[str], seconds: float = 30) -> dict:
        return await self.do("wait", deadline=seconds + 10, tab=tab, states=states, timeout=seconds)

    async def look_until(self, tab: str, predicate, seconds: float = 15) -> dict:
        end = time.monotonic() + seconds
        while True:
            look = (await self.do("look", tab=tab)).get("look", {})
            if predicate(look) or time.monotonic() >= end:
                return look
            await asyncio.sleep(0.3)

    async def quit(self) -> None:
        try:
            await self.do("quit", deadline=15)
        except Exception:  # noqa: BLE001
            pass
        try:
            await asyncio.wait_for(self.proc.wait(), 10)
        except asyncio.TimeoutError:
            self.proc.kill()


def brief(look: dict) -> str:
    """What the page showed, fit for the log (the status line is the page's own words)."""
    return f"state={look.get('state')!r} status={look.get('status')!r}"


def link(session_id: str, code: str) -> str:
    edge = "http://" + os.environ["EDGE"]
    return f"{os.environ['PAGE_URL']}?edge={edge}&poll=1#session={session_id}&code={code}"


class HostWithVideo(lke.Participant):
    """The Python host: a silent microphone and a small moving camera picture."""

    async def publish_video(self) -> None:
        source = rtc.VideoSource(160, 120)
        track = rtc.LocalVideoTrack.create_video_track(f"{self.label}-cam", source)

        async def feed() -> None:
            n = 0
            while True:
                shade = (n * 8) % 256
                frame = rtc.VideoFrame(160, 120, rtc.VideoBufferType.RGBA, bytes([shade, 90, 160, 255]) * (160 * 120))
                source.capture_frame(frame)
                n += 1
                await asyncio.sleep(0.1)

        self._feeders.append(asyncio.create_task(feed()))
        await self.room.local_participant.publish_track(
            track, rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_CAMERA))


class Convene:
    def __init__(self) -> None:
        self.channel = grpc.insecure_channel(os.environ["EDGE"])
        ch = ConveneClient(self.channel, os.environ["CONVENE_API_KEY"])._channel
        self.sessions = session_service_pb2_grpc.SessionServiceStub(ch)
        self.tokens = token_service_pb2_grpc.TokenServiceStub(ch)
        self.calls = call_service_pb2_grpc.CallServiceStub(ch)
        self.providers = provider_config_service_pb2_grpc.ProviderConfigServiceStub(ch)
        self.invitations = invitation_service_pb2_grpc.InvitationServiceStub(ch)
        self.groups = group_service_pb2_grpc.GroupServiceStub(ch)
        self.credentials = credential_service_pb2_grpc.CredentialServiceStub(ch)

    def as_user(self, user_id: str):
        """GroupService as the end user `user_id`, and the user credential the tenant issued for it (never printed)."""
        credential = self.rpc(f"IssueUserCredential {user_id}", self.credentials.IssueUserCredential,
                              cr.IssueUserCredentialRequest(user_id=user_id)).credential.credential
        return group_service_pb2_grpc.GroupServiceStub(ConveneClient(self.channel, credential)._channel), credential

    def rpc(self, what: str, call, request):
        try:
            return call(request, timeout=T)
        except grpc.RpcError as e:
            d = error_details(e)
            check(what, False, f"{e.code().name} {d.reason or ''} {safe(e.details())}")
            raise

    def create(self, ref: str, *, lobby: bool = False, roster=(("dr", "Dr Ada", "HOST"), ("pat", "Sam", "PARTICIPANT"))):
        now = int(time.time())
        settings = session_pb2.SessionSettings(lobby_enabled=lobby, empty_timeout=duration_pb2.Duration(seconds=3))
        return self.rpc(f"CreateSession {ref}", self.sessions.CreateSession, ss.CreateSessionRequest(
            request_id=f"req-{ref}", external_ref=ref, title="Call e2e", media=session_pb2.MEDIA_TYPE_VIDEO,
            scheduled_start_time=timestamp_pb2.Timestamp(seconds=now),
            scheduled_end_time=timestamp_pb2.Timestamp(seconds=now + 1800), settings=settings,
            participants=[session_pb2.ParticipantSpec(user_id=u, display_name=n,
                                                      role=session_pb2.ParticipantRole.Value(f"PARTICIPANT_ROLE_{r}"))
                          for u, n, r in roster])).session

    def status(self, sid: str) -> str:
        s = self.sessions.GetSession(ss.GetSessionRequest(session_id=sid), timeout=T).session
        return session_pb2.SessionStatus.Name(s.status).replace("SESSION_STATUS_", "")

    def present(self, sid: str) -> set[str]:
        r = self.sessions.ListParticipants(ss.ListParticipantsRequest(session_id=sid), timeout=T)
        return {p.user_id for p in r.participants if p.present}

    def events(self, sid: str) -> list:
        return list(self.sessions.ListSessionEvents(ss.ListSessionEventsRequest(session_id=sid, page_size=200),
                                                    timeout=T).events)


def story(events) -> list[str]:
    """The events as short words: JOINED dr, STATUS SCHEDULED>WAITING, ..."""
    out = []
    for e in events:
        name = EV.Name(e.type).replace("SESSION_EVENT_TYPE_", "")
        p = dict(e.payload.items()) if e.HasField("payload") else {}
        if name == "STATUS_CHANGED":
            out.append(f"STATUS {str(p.get('from', '')).replace('SESSION_STATUS_', '')}>{str(p.get('to', '')).replace('SESSION_STATUS_', '')}")
        elif "user_id" in p:
            out.append(f"{name} {p['user_id']}")
        else:
            out.append(name)
    return out


def in_order(seq: list[str], wanted: list[str]) -> bool:
    it = iter(seq)
    return all(any(w == s for s in it) for w in wanted)


async def until(predicate, seconds: float, step: float = 0.3):
    end = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() >= end:
            return value
        await asyncio.sleep(step)


def gate(action: str) -> dict:
    method = "GET" if action == "stats" else "POST"
    req = urllib.request.Request(f"{os.environ['GATE_URL']}/_gate/{action}", method=method, data=None if method == "GET" else b"")
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


async def main() -> int:
    lk = lke.LiveKit(os.environ["LK_URL"], os.environ["LK_API_KEY"], os.environ["LK_API_SECRET"])
    cv = Convene()
    browser = Browser()
    await browser.start()
    host = HostWithVideo("dr")
    started = time.monotonic()
    try:
        await run(lk, cv, browser, host)
    except Exception as e:  # noqa: BLE001 - a crash is a failure with a count, not a traceback only
        check("scenario ran to the end", False, f"{type(e).__name__}: {safe(e, 300)}")
        traceback.print_exc(file=sys.stderr)
    finally:
        await host.close()
        await browser.quit()
        await lk.close()
        cv.channel.close()
    print(f"   (scenario took {time.monotonic() - started:.1f} s)")
    print(f"scenario: {lke.passed} passed, {lke.failed} failed", flush=True)
    return 1 if lke.failed else 0


async def run(lk, cv: Convene, browser: Browser, host: HostWithVideo) -> None:
    print("\n== 1. a host (Python) and the patient (join page in Chromium) in a LiveKit call", flush=True)
    cfg = cv.rpc("SetProviderConfig (LiveKit, default)", cv.providers.SetProviderConfig, pc.SetProviderConfigRequest(
        config=pc.ProviderConfig(provider=provider_pb2.PROVIDER_KIND_LIVEKIT, default=True,
                                 livekit=pc.LiveKitConfig(url=lk.url, api_key=lk.key, api_secret=lk.secret))))
    check("SetProviderConfig: the tenant's default provider is our LiveKit", cfg.config.livekit.url == lk.url)
    ref = f"call-{int(time.time())}"
    a = cv.create(ref, roster=(("dr", "Dr Ada", "HOST"), ("pat", "Sam", "PARTICIPANT"), ("nurse", "Nurse Kim", "PARTICIPANT")))
    sid = a.id
    check("CreateSession A: dr HOST, pat PARTICIPANT, empty timeout 3 s; SCHEDULED", cv.status(sid) == "SCHEDULED", sid)

    dr = cv.rpc("IssueJoinToken dr", cv.tokens.IssueJoinToken, ts.IssueJoinTokenRequest(session_id=sid, user_id="dr")).join_token
    room = dr.room_name
    await host.connect(dr.connect_url, dr.token)
    await host.publish_silence()
    await host.publish_video()
    check("the host joins the room with Convene's token and publishes microphone and camera",
          len(host.room.local_participant.track_publications) == 2, f"room {room}")

    code = cv.rpc("CreateAccessCode pat", cv.tokens.CreateAccessCode,
                  ts.CreateAccessCodeRequest(session_id=sid, user_id="pat", max_uses=3)).code
    wrong = code[5:] + "-" + code[:4] if len(code) == 9 and code[4] == "-" else code[::-1]

    r = await browser.do("open", tab="wrong", url=link(sid, wrong))
    look = (await browser.wait("wrong", ["error"], 20)).get("look", r.get("look", {}))
    check("a wrong code: the page says the code is not right and asks for it again (ACCESS_CODE_NOT_FOUND)",
          look.get("state") == "error" and "access code is not right" in look.get("status", "") and look.get("codeFormShown"),
          brief(look))
    await browser.do("close", tab="wrong")

    await browser.do("open", tab="pat", url=link(sid, code))
    r = await browser.wait("pat", ["connected", "error", "left", "removed"], 40)
    look = r.get("look", {})
    check("the join page redeems the code and connects to LiveKit", look.get("state") == "connected", brief(look))
    check("the page published camera and microphone", look.get("published") == "camera,microphone",
          f"published {look.get('published')!r}")
    check("the status line is an aria-live region and every control has a label",
          look.get("statusLive") == "polite" and [b["label"] for b in look.get("buttons", [])]
          == ["Mute microphone", "Turn camera off", "Leave call"], str([b["label"] for b in look.get("buttons", [])]))
    look = await browser.look_until("pat", lambda l: l.get("playingRemoteVideos", 0) >= 1 and l.get("selfVideoPlaying")
                                    and "dr" in l.get("remoteVideos", []))
    check("the page plays the host's video and its own camera, and names who is in the call",
          look.get("playingRemoteVideos", 0) >= 1 and look.get("selfVideoPlaying") and "dr" in look.get("remoteVideos", []),
          f"remote videos {look.get('remoteVideos')}, playing {look.get('playingRemoteVideos')}, people {look.get('people')!r}")

    async def pat_tracks() -> bool:
        p = (await lk.participants(room)).get("pat")
        return p is not None and sorted(api.TrackType.Name(t.type) for t in p.tracks) == ["AUDIO", "VIDEO"]
    ok = await lke.wait_until(pat_tracks, 10)
    ps = await lk.participants(room)
    check("LiveKit's ListParticipants: dr and pat, pat with an audio and a video track", ok and {"dr", "pat"} <= set(ps),
          f"identities {sorted(ps)}")
    heard = await host.hears("pat", frames=50, timeout=15)
    check("the host receives the page's microphone over WebRTC", heard >= 50, f"{heard} frames")

    await browser.do("click", tab="pat", selector="#mute")

    async def pat_audio_muted(want: bool) -> bool:
        p = (await lk.participants(room)).get("pat")
        return p is not None and any(t.type == api.TrackType.AUDIO and t.muted == want for t in p.tracks)
    muted = await lke.wait_until(lambda: pat_audio_muted(True), 10)
    look = (await browser.do("look", tab="pat"))["look"]
    mute_button = next(b for b in look["buttons"] if b["id"] == "mute")
    check("Mute (keyboard): LiveKit shows pat's microphone muted; the button says Unmute, aria-pressed true",
          muted and mute_button["label"] == "Unmute microphone" and mute_button["pressed"] == "true", str(mute_button))
    await browser.do("click", tab="pat", selector="#mute")
    check("Unmute: LiveKit shows pat's microphone live again", await lke.wait_until(lambda: pat_audio_muted(False), 10))
    await browser.do("click", tab="pat", selector="#camera")

    async def pat_video_muted(want: bool) -> bool:
        p = (await lk.participants(room)).get("pat")
        return p is not None and any(t.type == api.TrackType.VIDEO and t.muted == want for t in p.tracks) \
            or (want and p is not None and not any(t.type == api.TrackType.VIDEO for t in p.tracks))
    check("Camera off: LiveKit shows pat's camera muted", await lke.wait_until(lambda: pat_video_muted(True), 10))
    await browser.do("click", tab="pat", selector="#camera")
    check("Camera on again: LiveKit shows pat's camera live", await lke.wait_until(lambda: pat_video_muted(False), 10))
    await browser.look_until("pat", lambda l: l.get("selfVideoPlaying") and l.get("playingRemoteVideos", 0) >= 1, 10)
    r = await browser.do("screenshot", tab="pat", path=str(SHOTS / "connected.png"))
    check("screenshot connected.png", r.get("ok") and (SHOTS / "connected.png").stat().st_size > 0)

    # ------------------------------------------------------------------ 1b. the session, live
    print("\n== 1b. the page follows the session live over gRPC-Web while LiveKit participants come and go", flush=True)
    look = await browser.look_until("pat", lambda l: {("JOINED", "dr"), ("JOINED", "pat")}
                                    <= {(i["type"].replace("PARTICIPANT_", ""), i["user"]) for i in l.get("activity", [])}, 20)
    check("WatchSession through Envoy's gRPC-Web: the page lists 'Dr Ada joined' and its own join (from LiveKit's webhooks)",
          any(i["text"] == "Dr Ada joined" for i in look.get("activity", []))
          and any(i["user"] == "pat" and i["type"] == "PARTICIPANT_JOINED" for i in look.get("activity", []))
          and look.get("activityLive") == "polite", str([i["text"] for i in look.get("activity", [])]))
    nurse_token = cv.rpc("IssueJoinToken nurse", cv.tokens.IssueJoinToken,
                         ts.IssueJoinTokenRequest(session_id=sid, user_id="nurse")).join_token
    nurse = lke.Participant("nurse")
    await nurse.connect(nurse_token.connect_url, nurse_token.token)
    look = await browser.look_until("pat", lambda l: any(i["text"] == "Nurse Kim joined" for i in l.get("activity", [])), 20)
    check("a Python participant joins LiveKit: the page shows 'Nurse Kim joined' while it happens",
          any(i["text"] == "Nurse Kim joined" for i in look.get("activity", [])), str([i["text"] for i in look.get("activity", [])]))
    await nurse.room.disconnect()
    look = await browser.look_until("pat", lambda l: any(i["text"] == "Nurse Kim left" for i in l.get("activity", [])), 20)
    check("it leaves LiveKit: the page shows 'Nurse Kim left'",
          any(i["text"] == "Nurse Kim left" for i in look.get("activity", [])), str([i["text"] for i in look.get("activity", [])]))
    shown = [(i["sequence"], i["type"], i["user"]) for i in look.get("activity", [])]
    logged = [(e.sequence, EV.Name(e.type).replace("SESSION_EVENT_TYPE_", ""), dict(e.payload.items()).get("user_id", ""))
              for e in cv.events(sid) if e.type in (EV.Value("SESSION_EVENT_TYPE_PARTICIPANT_JOINED"),
                                                     EV.Value("SESSION_EVENT_TYPE_PARTICIPANT_LEFT"))]
    check("what the page listed is exactly ListSessionEvents' joins and leaves, same sequences, same order",
          shown == logged[:len(shown)] and len(shown) >= 4, f"page {shown} log {logged}")
    await asyncio.sleep(10)
    look = (await browser.do("look", tab="pat"))["look"]
    check("after 10 s with nothing to show, the stream is still the first one: heartbeats (2 s) kept it inside "
          "Envoy's 6 s idle timeout, and the page never had to resume", look.get("activityResumes") == 0,
          f"resumes {look.get('activityResumes')}")
    r = await browser.do("screenshot", tab="pat", path=str(SHOTS / "activity.png"))
    check("screenshot activity.png", r.get("ok") and (SHOTS / "activity.png").stat().st_size > 0)

    # ------------------------------------------------------------------ 2. presence from webhooks
    print("\n== 2. LiveKit's webhooks through Envoy move the session", flush=True)
    st = await until(lambda: cv.status(sid) == "IN_PROGRESS" and cv.present(sid) >= {"dr", "pat"}, 15)
    check("GetSession IN_PROGRESS and ListParticipants: dr and pat present (Convene learnt it from LiveKit)",
          bool(st), f"status {cv.status(sid)}, present {sorted(cv.present(sid))}")
    words = story(cv.events(sid))
    check("ListSessionEvents: SCHEDULED>WAITING then WAITING>IN_PROGRESS, both joined",
          in_order(words, ["STATUS SCHEDULED>WAITING", "STATUS WAITING>IN_PROGRESS"])
          and any(w == "PARTICIPANT_JOINED dr" for w in words) and any(w == "PARTICIPANT_JOINED pat" for w in words),
          " | ".join(w for w in words if w.startswith(("STATUS", "PARTICIPANT_JOINED"))))
    stats = gate("stats")
    check("the webhooks reached Convene through Envoy and were accepted (2xx)",
          stats["forwarded"] > 0 and all(s.startswith("2") for s in stats["statuses"]), str(stats["statuses"]))

    # ------------------------------------------------------------------ 3. lobby
    print("\n== 3. a session with a lobby: the page waits until the host admits", flush=True)
    b = cv.create(f"{ref}-lobby", lobby=True, roster=(("dr", "Dr Ada", "HOST"), ("pat2", "Kim", "PARTICIPANT")))
    code_b = cv.rpc("CreateAccessCode pat2", cv.tokens.CreateAccessCode,
                    ts.CreateAccessCodeRequest(session_id=b.id, user_id="pat2")).code
    await browser.do("open", tab="lobby", url=link(b.id, code_b))
    r = await browser.wait("lobby", ["lobby", "error", "connected"], 20)
    look = r.get("look", {})
    check("the page shows the wait: 'Waiting for the host to let you in'",
          look.get("state") == "lobby" and "Waiting for the host to let you in" in look.get("status", ""), brief(look))
    lobby = await until(lambda: [p.user_id for p in cv.calls.ListLobby(cs.ListLobbyRequest(session_id=b.id), timeout=T).participants], 10)
    check("ListLobby lists pat2 while the page waits", lobby == ["pat2"], str(lobby))
    await asyncio.sleep(2.5)  # the page keeps polling and keeps waiting
    look = (await browser.do("look", tab="lobby"))["look"]
    check("after more polls the page still waits (AWAITING_ADMISSION)", look.get("state") == "lobby", brief(look))
    await browser.do("screenshot", tab="lobby", path=str(SHOTS / "lobby.png"))
    check("screenshot lobby.png", (SHOTS / "lobby.png").stat().st_size > 0)
    cv.rpc("AdmitParticipant pat2", cv.calls.AdmitParticipant, cs.AdmitParticipantRequest(session_id=b.id, user_id="pat2"))
    r = await browser.wait("lobby", ["connected", "error"], 30)
    look = r.get("look", {})
    in_room = await lke.wait_until(lambda: _has(lk, b.id, "pat2"), 10)
    check("AdmitParticipant: the page connects and LiveKit lists pat2 in the lobby session's room",
          look.get("state") == "connected" and in_room, brief(look))
    await browser.do("click", tab="lobby", selector="#leave")
    r = await browser.wait("lobby", ["left"], 15)
    gone = await lke.wait_until(lambda: _absent(lk, b.id, "pat2"), 10)
    check("Leave (keyboard): the page says you left; LiveKit no longer lists pat2",
          r.get("look", {}).get("state") == "left" and gone, brief(r.get("look", {})))
    await browser.do("close", tab="lobby")

    # ------------------------------------------------------------------ 4. kick with ban
    print("\n== 4. the host kicks the patient with a ban", flush=True)
    cv.rpc("KickParticipant pat (ban)", cv.calls.KickParticipant,
           cs.KickParticipantRequest(session_id=sid, user_id="pat", ban=True, reason="e2e"))
    r = await browser.wait("pat", ["removed", "left", "error"], 20)
    look = r.get("look", {})
    check("the page says 'You were removed from the call' (LiveKit: PARTICIPANT_REMOVED)",
          look.get("state") == "removed" and look.get("status") == "You were removed from the call."
          and look.get("disconnectReason") == "PARTICIPANT_REMOVED", brief(look) + f" reason={look.get('disconnectReason')!r}")
    check("LiveKit no longer lists pat; the host stays", await lke.wait_until(lambda: _absent(lk, room, "pat"), 10)
          and "dr" in await lk.participants(room))
    await browser.do("screenshot", tab="pat", path=str(SHOTS / "kicked.png"))
    check("screenshot kicked.png", (SHOTS / "kicked.png").stat().st_size > 0)
    await browser.do("open", tab="pat", url=link(sid, code))
    r = await browser.wait("pat", ["error", "connected"], 20)
    look = r.get("look", {})
    check("the same link again: redemption refused and the page explains the ban (PARTICIPANT_BANNED)",
          look.get("state") == "error" and "the host has removed you" in look.get("status", ""), brief(look))
    await browser.do("screenshot", tab="pat", path=str(SHOTS / "banned.png"))
    try:
        cv.tokens.RedeemAccessCode(ts.RedeemAccessCodeRequest(session_id=sid, code=code), timeout=T)
        check("RedeemAccessCode after the ban is PERMISSION_DENIED PARTICIPANT_BANNED", False, "it succeeded")
    except grpc.RpcError as e:
        check("RedeemAccessCode after the ban is PERMISSION_DENIED PARTICIPANT_BANNED",
              e.code() == grpc.StatusCode.PERMISSION_DENIED and error_details(e).reason == "PARTICIPANT_BANNED",
              f"{e.code().name} {error_details(e).reason}")

    # ------------------------------------------------------------------ 5. everyone leaves
    print("\n== 5. everyone leaves: the session completes after its empty timeout", flush=True)
    await host.close()
    done = await until(lambda: cv.status(sid) == "COMPLETED", 25)
    check("the host left (LiveKit webhook): the session is COMPLETED after its 3 s empty timeout",
          bool(done), f"status {cv.status(sid)}, present {sorted(cv.present(sid))}")
    words = story(cv.events(sid))
    wanted = ["SESSION_CREATED", "STATUS SCHEDULED>WAITING", "STATUS WAITING>IN_PROGRESS",
              "PARTICIPANT_KICKED pat", "PARTICIPANT_LEFT dr", "STATUS IN_PROGRESS>COMPLETED"]
    check("ListSessionEvents tells the story in order: created, waiting, in progress, pat kicked, dr left, completed",
          in_order(words, wanted), " | ".join(words))

    # ------------------------------------------------------------------ 6. reconciliation
    print("\n== 6. webhook delivery stops for one join; reconciliation repairs presence", flush=True)
    c = cv.create(f"{ref}-reconcile")
    tok = cv.rpc("IssueJoinToken dr (C)", cv.tokens.IssueJoinToken,
                 ts.IssueJoinTokenRequest(session_id=c.id, user_id="dr")).join_token
    before = gate("refuse")
    late = lke.Participant("dr-c")
    try:
        await late.connect(tok.connect_url, tok.token)
        joined_at = time.monotonic()
        refused = await until(lambda: gate("stats")["refused"] > before["refused"], 10)
        check("LiveKit's participant_joined for C is refused at the webhook target (503)", bool(refused),
              f"refused {gate('stats')['refused'] - before['refused']}")
        repaired = await until(lambda: "dr" in cv.present(c.id), RECONCILE * 3 + 8)
        took = time.monotonic() - joined_at
        stats = gate("stats")
        # dr joined after the gate began refusing, so no delivery of that join reached Convene (one
        # still in flight from before the switch may be forwarded; it is about another room).
        # Within one reconcile interval, plus the job runner's 1 s round and 2 s for the call itself.
        check(f"reconciliation marks dr present within one interval while webhooks are still refused",
              bool(repaired) and stats["mode"] == "refuse" and took <= RECONCILE + 3,
              f"{took:.1f} s after the join; interval {RECONCILE:.0f} s; forwarded since: {stats['forwarded'] - before['forwarded']}")
        corrective = [e for e in cv.events(c.id) if e.type == EV.Value("SESSION_EVENT_TYPE_PARTICIPANT_JOINED")]
        check("the repair is recorded as a corrective PARTICIPANT_JOINED event",
              any("reconcil" in json.dumps(dict(e.payload.items())).lower() or "reconcil" in e.actor.lower()
                  for e in corrective), str([(e.actor, dict(e.payload.items())) for e in corrective])[:300])
    finally:
        gate("forward")
        await late.close()

    await invitation_by_sms(lk, cv, browser)
    await group_call(lk, cv, browser)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=T) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def fake_messages() -> list[dict]:
    return json.loads(http("GET", os.environ["TWILIO_URL"] + "/_messages")[1])["messages"]


def masked(phone: str) -> str:
    return phone[:2] + "*" * (len(phone) - 6) + phone[-4:] if phone else repr(phone)


async def invitation_by_sms(lk, cv: Convene, browser: Browser) -> None:
    print("\n== 7. an SMS invitation end to end through Envoy: REST, outbox, Twilio, status callbacks, the page", flush=True)
    edge_base = "http://" + os.environ["EDGE"]
    tenant = os.environ["TENANT"]
    token = os.environ["E2E_TWILIO_AUTH_TOKEN"]
    account = os.environ["E2E_TWILIO_ACCOUNT_SID"]
    phone, sender = "+14155550123", "+15005550006"
    cfg = cv.rpc("SetProviderConfig (Twilio)", cv.providers.SetProviderConfig, pc.SetProviderConfigRequest(
        config=pc.ProviderConfig(provider=provider_pb2.PROVIDER_KIND_TWILIO, default=False, status_callback_base_url=edge_base,
                                 twilio=pc.TwilioConfig(account_sid=account, api_key_sid=os.environ["E2E_TWILIO_API_KEY_SID"],
                                                        api_key_secret=os.environ["E2E_TWILIO_API_KEY_SECRET"],
                                                        auth_token=token, sms_from=sender))))
    default = cv.providers.GetProviderConfig(pc.GetProviderConfigRequest(provider=provider_pb2.PROVIDER_KIND_LIVEKIT), timeout=T)
    check("SetProviderConfig: Twilio (not default) with sms_from and status_callback_base_url = the edge; LiveKit stays default",
          cfg.config.twilio.sms_from == sender and cfg.config.status_callback_base_url == edge_base and not cfg.config.default
          and default.config.default, f"stored secrets {list(cfg.config.stored_secrets)}")
    ses = cv.create(f"call-{int(time.time())}-sms", roster=(("dr", "Dr Ada", "HOST"),))
    before = len(fake_messages())

    # a. CreateInvitation over REST, through Envoy's transcoder
    status, raw = http("POST", f"{edge_base}/v1/sessions/{ses.id}/invitations", json.dumps({
        "userId": "sam", "guestRole": "PARTICIPANT_ROLE_PARTICIPANT", "guestDisplayName": "Sam",
        "channel": "INVITATION_CHANNEL_SMS", "phone": phone}).encode(),
        {"authorization": "Bearer " + os.environ["CONVENE_API_KEY"], "content-type": "application/json"})
    created = json.loads(raw) if raw.startswith(b"{") else {}
    invitation = created.get("invitation", {})
    link_ = created.get("link", "")
    inv_id = invitation.get("id", "")
    check("POST /v1/sessions/{id}/invitations (REST through Envoy): 200, an SMS invitation for sam, delivery QUEUED, a link to the page",
          status == 200 and inv_id.startswith("inv_") and invitation.get("delivery") == "INVITATION_DELIVERY_QUEUED"
          and invitation.get("channel") == "INVITATION_CHANNEL_SMS" and link_.startswith(os.environ["PAGE_URL"])
          and f"#session={ses.id}&code=" in link_,
          f"HTTP {status}, {inv_id}, delivery {invitation.get('delivery')}, phone {invitation.get('phoneMasked')!r}, "
          f"link to {link_.split('#')[0].split('?')[0]!r}" if status == 200 else f"HTTP {status} {safe(raw.decode(errors='replace'), 200)}")

    def get() -> inv.Invitation:
        return cv.invitations.GetInvitation(inv.GetInvitationRequest(invitation_id=inv_id), timeout=T).invitation

    def delivery() -> str:
        return inv.InvitationDelivery.Name(get().delivery).replace("INVITATION_DELIVERY_", "")

    # b. the outbox texts it through the fake Twilio
    t0 = time.monotonic()
    arrived = await until(lambda: len(fake_messages()) > before, 15)
    took = time.monotonic() - t0
    await asyncio.sleep(1.5)  # one more job round: a second send would show here
    got = fake_messages()[before:]
    m = got[0] if got else {}
    callback = f"{edge_base}/webhooks/twilio/{tenant}"
    check("the outbox texts it within 15 s: exactly one message, To the number, From sms_from, its Body holds the link",
          bool(arrived) and len(got) == 1 and m.get("to") == phone and m.get("from") == sender and bool(link_)
          and link_ in m.get("body", "") and m.get("account") == account and m.get("basic_auth"),
          f"{len(got)} message(s) after {took:.1f} s, To {masked(m.get('to', ''))}, From {m.get('from')}, "
          f"{m.get('sid', '')[:2]}+{len(m.get('sid', '')) - 2} hex, body of {len(m.get('body', ''))} chars")
    check("its StatusCallback is <edge>/webhooks/twilio/<tenant>", m.get("status_callback") == callback,
          f"{m.get('status_callback')!r}")
    sent = await until(lambda: delivery() == "SENT", 5)
    check("GetInvitation: delivery SENT", bool(sent), f"delivery {delivery()}")

    # c. Twilio's status callbacks, signed, through Envoy
    def status_callback(state: str) -> tuple[int, bytes]:
        params = {"AccountSid": account, "ApiVersion": "2010-04-01", "From": sender, "To": phone,
                  "MessageSid": m.get("sid", ""), "MessageStatus": state, "SmsSid": m.get("sid", ""), "SmsStatus": state}
        if state == "delivered":
            params["RawDlrDoneDate"] = time.strftime("%y%m%d%H%M", time.gmtime())
        return http("POST", m.get("status_callback") or callback, urllib.parse.urlencode(params).encode(),
                    {"content-type": "application/x-www-form-urlencoded",
                     "x-twilio-signature": twilio_signature(token, m.get("status_callback") or callback, params)})
    status, raw = status_callback("delivered")
    check("Twilio's 'delivered' callback (X-Twilio-Signature) through Envoy: 200", status == 200,
          f"HTTP {status} {safe(raw.decode(errors='replace'), 120)}")
    done = await until(lambda: delivery() == "DELIVERED", 5)
    check("GetInvitation: delivery DELIVERED", bool(done), f"delivery {delivery()}")
    status, raw = status_callback("sent")
    await asyncio.sleep(0.5)
    check("a late 'sent' callback: 200, and delivery stays DELIVERED", status == 200 and delivery() == "DELIVERED",
          f"HTTP {status} {safe(raw.decode(errors='replace'), 120)}, delivery {delivery()}")

    # d. the SMS's link in the page
    found = re.search(r"https?://\S+", m.get("body", ""))
    await browser.do("open", tab="sam", url=found.group(0) if found else "about:blank")
    r = await browser.wait("sam", ["connected", "error", "left", "removed"], 40)
    look = r.get("look", {})
    check("the SMS's link opens the page, which redeems the code and connects to LiveKit", look.get("state") == "connected",
          brief(look))
    accepted = await until(lambda: get().status == inv.INVITATION_STATUS_ACCEPTED, 5)
    check("GetInvitation: status ACCEPTED", bool(accepted),
          f"status {inv.InvitationStatus.Name(get().status)}, delivery {delivery()}")

    def sam():
        ps = cv.sessions.ListParticipants(ss.ListParticipantsRequest(session_id=ses.id), timeout=T).participants
        return next((p for p in ps if p.user_id == "sam"), None)
    on = await until(lambda: (p := sam()) is not None and p.present, 10)
    p = sam()
    check("ListParticipants: sam on the roster as PARTICIPANT (display name Sam), present",
          p is not None and p.role == session_pb2.PARTICIPANT_ROLE_PARTICIPANT and p.display_name == "Sam" and bool(on),
          f"role {session_pb2.ParticipantRole.Name(p.role) if p else None}, present {p.present if p else None}")
    in_room = await lke.wait_until(lambda: _has(lk, ses.id, "sam"), 10)
    check("LiveKit lists sam in the session's room", in_room, f"identities {sorted(await lk.participants(ses.id))}"
          if in_room else "sam not in the room")
    await browser.look_until("sam", lambda l: l.get("selfVideoPlaying"), 10)
    r = await browser.do("screenshot", tab="sam", path=str(SHOTS / "invited.png"))
    check("screenshot invited.png", r.get("ok") and (SHOTS / "invited.png").stat().st_size > 0)
    await browser.do("close", tab="sam")


async def group_call(lk, cv: Convene, browser: Browser) -> None:
    print("\n== 8. a group call: ann (Python) and bob (the page, with his user credential) join it", flush=True)
    g = cv.rpc("CreateGroup", cv.groups.CreateGroup, gs.CreateGroupRequest(
        request_id=f"family-{int(time.time())}", owner_user_id="ann", name="Family")).group
    cv.rpc("AddGroupMember bob", cv.groups.AddGroupMember, gs.AddGroupMemberRequest(group_id=g.id, user_id="bob"))
    (ann_api, _), (bob_api, bob_credential) = cv.as_user("ann"), cv.as_user("bob")
    started = cv.rpc("StartGroupCall (ann, user credential)", ann_api.StartGroupCall,
                     gs.StartGroupCallRequest(group_id=g.id, user_id="ann"))
    sid = started.session.id
    check("StartGroupCall: a session for the group, AUDIO, linked to it",
          sid.startswith("ses_") and not started.already_live and started.session.media == session_pb2.MEDIA_TYPE_AUDIO
          and started.session.metadata.get("group_id") == g.id, f"session {sid}")
    again = cv.rpc("StartGroupCall (bob)", bob_api.StartGroupCall, gs.StartGroupCallRequest(group_id=g.id, user_id="bob"))
    check("a second StartGroupCall (bob) returns the live call, flagged", again.already_live and again.session.id == sid)
    ann = lke.Participant("ann")
    try:
        j = cv.rpc("JoinGroupCall ann", ann_api.JoinGroupCall, gs.JoinGroupCallRequest(group_id=g.id, user_id="ann"))
        check("JoinGroupCall ann: a LiveKit token for the call's room as ann",
              j.session_id == sid and j.join_token.identity == "ann" and j.join_token.room_name == sid
              and j.join_token.provider == provider_pb2.PROVIDER_KIND_LIVEKIT)
        await ann.connect(j.join_token.connect_url, j.join_token.token)
        await ann.publish_silence()

        # bob: the page, opened with his user credential in the fragment, lists his groups.
        edge = "http://" + os.environ["EDGE"]
        await browser.do("open", tab="bob", url=f"{os.environ['PAGE_URL']}?edge={edge}#credential={bob_credential}")
        r = await browser.wait("bob", ["groups", "error"], 20)
        look = r.get("look", {})
        mine = next((x for x in look.get("groups", []) if x.get("id") == g.id), {})
        check("the page (bob's user credential) lists his group with its live call: 'Join call'",
              look.get("state") == "groups" and mine.get("name") == "Family" and mine.get("action") == "Join call",
              f"{brief(look)} groups {[(x.get('name'), x.get('action')) for x in look.get('groups', [])]}")
        r = await browser.do("screenshot", tab="bob", path=str(SHOTS / "groups.png"))
        check("screenshot groups.png", r.get("ok") and (SHOTS / "groups.png").stat().st_size > 0)
        await browser.do("click", tab="bob", selector=f'#group-list li[data-group="{g.id}"] button')
        r = await browser.wait("bob", ["connected", "error", "left"], 40)
        look = r.get("look", {})
        check("bob clicks 'Join call': JoinGroupCall, and the page is in the LiveKit call", look.get("state") == "connected",
              brief(look))
        both = await lke.wait_until(lambda: _has_all(lk, sid, {"ann", "bob"}), 15)
        check("LiveKit lists ann and bob in the group call's room", both, f"identities {sorted(await lk.participants(sid))}")
        present = await until(lambda: cv.present(sid) == {"ann", "bob"}, 15)
        check("presence from LiveKit's webhooks: ann and bob present; the call IN_PROGRESS",
              bool(present) and cv.status(sid) == "IN_PROGRESS", f"present {sorted(cv.present(sid))}, {cv.status(sid)}")
        listed = cv.rpc("ListGroupCallParticipants (bob)", bob_api.ListGroupCallParticipants,
                        gs.ListGroupCallParticipantsRequest(group_id=g.id))
        check("ListGroupCallParticipants (a member): ann and bob, present", {p.user_id for p in listed.participants
                                                                              if p.present} == {"ann", "bob"})
        heard = await ann.hears("bob")
        check("ann receives bob's audio (the page's microphone) over WebRTC", heard >= 50, f"{heard} frames")
        r = await browser.do("screenshot", tab="bob", path=str(SHOTS / "group-call.png"))
        check("screenshot group-call.png", r.get("ok") and (SHOTS / "group-call.png").stat().st_size > 0)
        await asyncio.sleep(2)
        await browser.do("click", tab="bob", selector="#leave")
        r = await browser.wait("bob", ["groups"], 15)
        look = r.get("look", {})
        check("bob leaves: the page lists his groups again", look.get("state") == "groups"
              and any(x.get("id") == g.id for x in look.get("groups", [])), brief(look))
        gone = await until(lambda: cv.present(sid) == {"ann"}, 15)
        check("bob's leave reaches Convene (webhook): he is absent, ann stays", bool(gone), f"present {sorted(cv.present(sid))}")
        await asyncio.sleep(1)
    finally:
        await ann.close()
        await browser.do("close", tab="bob")
    alone = await until(lambda: cv.present(sid) == set(), 15)
    check("ann leaves: nobody present", bool(alone), f"present {sorted(cv.present(sid))}")
    ended = cv.rpc("EndGroupCall (ann, who started it)", ann_api.EndGroupCall, gs.EndGroupCallRequest(group_id=g.id))
    check("EndGroupCall: the call's session COMPLETED", ended.session.status == session_pb2.SESSION_STATUS_COMPLETED,
          session_pb2.SessionStatus.Name(ended.session.status))
    start = timestamp_pb2.Timestamp(seconds=int(time.time()) - 3600)
    end = timestamp_pb2.Timestamp(seconds=int(time.time()) + 60)
    usage = cv.rpc("GetGroupUsage (bob)", bob_api.GetGroupUsage, gs.GetGroupUsageRequest(group_id=g.id, start_time=start,
                                                                                            end_time=end))
    per = {m.user_id: m.connected_duration.seconds + m.connected_duration.nanos / 1e9 for m in usage.members}
    total = usage.usage.connected_duration.seconds + usage.usage.connected_duration.nanos / 1e9
    check("GetGroupUsage: 1 call, peak 2, ann and bob connected (ann longer), their times add up to the total",
          usage.usage.call_count == 1 and usage.usage.peak_participants == 2 and set(per) == {"ann", "bob"}
          and per["bob"] > 1 and per["ann"] > per["bob"] and abs(sum(per.values()) - total) < 0.01,
          f"calls {usage.usage.call_count}, peak {usage.usage.peak_participants}, "
          + ", ".join(f"{u} {t:.1f} s" for u, t in sorted(per.items())) + f", total {total:.1f} s")
    feed = cv.rpc("ListGroupActivities", cv.groups.ListGroupActivities, gs.ListGroupActivitiesRequest(group_id=g.id))
    words = [gs.GroupActivityType.Name(a.type).replace("GROUP_ACTIVITY_TYPE_", "") + (f" {a.user_id}" if a.user_id else "")
             for a in reversed(feed.activities)]
    check("ListGroupActivities (oldest first here): created, call started, ann and bob joined, bob left, ann left, ended",
          in_order(words, ["GROUP_CREATED", "MEMBER_ADDED bob", "CALL_STARTED", "CALL_LEFT bob", "CALL_LEFT ann",
                           "CALL_ENDED"])
          and all(in_order(words, ["CALL_STARTED", f"CALL_JOINED {u}", "CALL_LEFT bob"]) for u in ("ann", "bob")),
          " | ".join(words))

    # A group invitation's link: the page accepts it (no credential) and lists the group for the new member.
    invited = cv.rpc("CreateInvitation (group, LINK) for cat", cv.invitations.CreateInvitation, inv.CreateInvitationRequest(
        group_id=g.id, user_id="cat", channel=inv.INVITATION_CHANNEL_LINK))
    check("CreateInvitation into the group: the link names the group", f"#group={g.id}&code=" in invited.link)
    edge = "http://" + os.environ["EDGE"]
    await browser.do("open", tab="cat", url=f"{os.environ['PAGE_URL']}?edge={edge}#group={g.id}&code={invited.code}")
    r = await browser.wait("cat", ["groups", "error"], 20)
    look = r.get("look", {})
    check("the page opens the group invitation's link: accepted, and cat's groups list shows the group ('Start call')",
          look.get("state") == "groups" and [(x.get("id"), x.get("action")) for x in look.get("groups", [])]
          == [(g.id, "Start call")], brief(look))
    members = cv.groups.ListGroupMembers(gs.ListGroupMembersRequest(group_id=g.id), timeout=T).members
    got = cv.invitations.GetInvitation(inv.GetInvitationRequest(invitation_id=invited.invitation.id), timeout=T).invitation
    check("cat is a MEMBER of the group, and the invitation ACCEPTED",
          any(m.user_id == "cat" and m.role == group_pb2.GROUP_ROLE_MEMBER for m in members)
          and got.status == inv.INVITATION_STATUS_ACCEPTED, inv.InvitationStatus.Name(got.status))
    await browser.do("close", tab="cat")


async def _has_all(lk, room: str, identities: set[str]) -> bool:
    try:
        return identities <= set(await lk.participants(room))
    except api.TwirpError:
        return False


async def _has(lk, room: str, identity: str) -> bool:
    try:
        return identity in await lk.participants(room)
    except api.TwirpError:
        return False


async def _absent(lk, room: str, identity: str) -> bool:
    try:
        return identity not in await lk.participants(room)
    except api.TwirpError:
        return True


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
