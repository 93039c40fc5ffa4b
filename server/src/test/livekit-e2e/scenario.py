#!/usr/bin/env python3
"""LiveKit end to end, against a real livekit-server with real participants (Python livekit SDK).

run.sh starts livekit-server (and, for the convene part, the Convene server) inside a private
network namespace and runs this with:
  LK_URL          http://127.0.0.1:<port> of livekit-server
  LK_API_KEY      its API key;  LK_API_SECRET its secret (never printed)
  CONVENE_TARGET  127.0.0.1:<grpc port> (convene part)
  CONVENE_API_KEY the dev tenant's key (convene part; never printed)

Parts:
  harness  tokens minted here with livekit-api: a host and an observer-style grant connect; what
           LiveKit's own ListParticipants says about them; refused tokens.
  convene  the README's newcomer flow through the Convene Python client: LiveKit provider for the
           dev tenant, a session, join tokens for host and observer, an access code redeemed by a
           guest, real participants on Convene's tokens, LiveKit's view of their rights, the guest
           credential's limits.

Prints one PASS/FAIL line per assertion; exits 1 if any failed. Tokens, keys, codes and
credentials are never printed (only their presence or length).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import re
import secrets
import sys
import time
import traceback
from typing import Awaitable, Callable, Optional

from livekit import api, rtc

passed = 0
failed = 0
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def check(what: str, ok: bool, detail: str = "") -> bool:
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS: {what}" + (f" ({detail})" if detail else ""), flush=True)
    else:
        failed += 1
        print(f"FAIL: {what}" + (f" ({detail})" if detail else ""), flush=True)
    return ok


def safe(text: object, limit: int = 160) -> str:
    """An error message fit for the log: no JWTs, at most `limit` characters."""
    s = JWT.sub("<jwt>", str(text)).replace("\n", " ")
    for name in ("LK_API_SECRET", "CONVENE_API_KEY"):
        value = os.environ.get(name)
        if value:
            s = s.replace(value, "<secret>")
    return s[:limit]


async def wait_until(predicate: Callable[[], Awaitable[bool]], seconds: float = 10.0, step: float = 0.2) -> bool:
    end = time.monotonic() + seconds
    while True:
        if await predicate():
            return True
        if time.monotonic() >= end:
            return False
        await asyncio.sleep(step)


# ------------------------------------------------------------------------------------- LiveKit side


class LiveKit:
    """LiveKit's own view, through its RoomService (Twirp) with the server's key."""

    def __init__(self, url: str, key: str, secret: str):
        self.url = url
        self.ws_url = "ws" + url[len("http"):] if url.startswith("http") else url
        self.key = key
        self.secret = secret
        self.api = api.LiveKitAPI(url, key, secret, failover=False)

    async def participants(self, room: str) -> dict[str, object]:
        resp = await self.api.room.list_participants(api.ListParticipantsRequest(room=room))
        return {p.identity: p for p in resp.participants}

    async def rooms(self) -> list[str]:
        resp = await self.api.room.list_rooms(api.ListRoomsRequest())
        return [r.name for r in resp.rooms]

    def token(self, identity: str, room: str, *, ttl: datetime.timedelta = datetime.timedelta(minutes=10),
              secret: Optional[str] = None, **grants) -> str:
        return (api.AccessToken(self.key, secret or self.secret)
                .with_identity(identity)
                .with_ttl(ttl)
                .with_grants(api.VideoGrants(room_join=True, room=room, **grants))
                .to_jwt())

    async def close(self) -> None:
        await self.api.aclose()


class Participant:
    """A real participant: an rtc.Room connected with a token; can publish a silent microphone."""

    def __init__(self, label: str):
        self.label = label
        self.room = rtc.Room()
        self._feeders: list[asyncio.Task] = []

    async def connect(self, url: str, token: str, timeout: float = 20.0) -> float:
        started = time.monotonic()
        await asyncio.wait_for(self.room.connect(url, token, rtc.RoomOptions(auto_subscribe=True, connect_timeout=5)),
                               timeout)
        return time.monotonic() - started

    async def publish_silence(self, timeout: float = 15.0):
        source = rtc.AudioSource(48000, 1)
        track = rtc.LocalAudioTrack.create_audio_track(f"{self.label}-mic", source)
        frame = rtc.AudioFrame.create(48000, 1, 480)  # 10 ms of silence

        async def feed() -> None:
            while True:
                await source.capture_frame(frame)

        self._feeders.append(asyncio.create_task(feed()))
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        return await asyncio.wait_for(self.room.local_participant.publish_track(track, options), timeout)

    async def hears(self, identity: str, frames: int = 50, timeout: float = 15.0) -> int:
        """Subscribes to `identity`'s audio and counts decoded frames that arrive over WebRTC (up to
        `frames`, within `timeout`): proof that media flows, not only signalling."""
        end = time.monotonic() + timeout
        track = None
        while track is None and time.monotonic() < end:
            rp = self.room.remote_participants.get(identity)
            for pub in (rp.track_publications.values() if rp else []):
                if pub.kind == rtc.TrackKind.KIND_AUDIO and pub.track is not None:
                    track = pub.track
            if track is None:
                await asyncio.sleep(0.1)
        if track is None:
            return 0
        stream = rtc.AudioStream(track, sample_rate=48000, num_channels=1)
        count = 0

        async def read() -> None:
            nonlocal count
            async for _ in stream:
                count += 1
                if count >= frames:
                    break
        try:
            await asyncio.wait_for(read(), max(end - time.monotonic(), 1.0))
        except asyncio.TimeoutError:
            pass
        finally:
            await stream.aclose()
        return count

    def sees(self) -> set[str]:
        return set(self.room.remote_participants.keys())

    async def close(self) -> None:
        for task in self._feeders:
            task.cancel()
        try:
            await asyncio.wait_for(self.room.disconnect(), 10)
        except Exception:  # noqa: BLE001 - best effort at the end
            pass


async def refused(lk: LiveKit, what: str, url: str, token: str, room: str, identity: str, expect: str,
                  why: str = "") -> None:
    """Asserts LiveKit refuses a connect with this token, saying `expect` (its HTTP status and reason),
    and that nobody of that identity got in."""
    p = Participant("refused")
    try:
        await p.connect(url, token, timeout=20)
        got_in = True
        detail = "connected"
    except (rtc.ConnectError, asyncio.TimeoutError, Exception) as e:  # noqa: BLE001
        got_in = False
        detail = f"{type(e).__name__}: {safe(getattr(e, 'message', e))}"
    finally:
        await p.close()
    listed = False
    try:
        listed = identity in await lk.participants(room)
    except api.TwirpError as e:  # the room does not exist: nobody in it
        listed = False
        detail += f"; ListParticipants: {e.code}"
    check(f"LiveKit refuses {what}", not got_in and not listed and expect in detail and why in detail, detail)


async def publish_denied(lk: LiveKit, p: Participant, room: str, identity: str) -> None:
    """An observer's publish attempt: the SDK must fail it and LiveKit must list no track of it."""
    try:
        await p.publish_silence(timeout=15)
        attempt = "publish_track returned a publication"
        sdk_failed = False
    except Exception as e:  # noqa: BLE001 - PublishTrackError or a timeout are both a refusal
        attempt = f"{type(e).__name__}: {safe(getattr(e, 'message', e), 100)}"
        sdk_failed = True
    await asyncio.sleep(1.0)
    info = (await lk.participants(room)).get(identity)
    tracks = len(info.tracks) if info else -1
    check(f"{identity}'s attempt to publish audio fails and LiveKit lists no track of it", sdk_failed and tracks == 0,
          f"{attempt}; tracks listed: {tracks}")


def perm(info) -> str:
    p = info.permission
    return f"can_publish={p.can_publish} hidden={p.hidden} can_subscribe={p.can_subscribe}"


# ------------------------------------------------------------------------------------------ harness


async def harness(lk: LiveKit) -> None:
    print("\n== harness: tokens minted with livekit-api, LiveKit's own view", flush=True)
    room = f"harness-{secrets.token_hex(4)}"
    started = time.monotonic()
    await lk.api.room.create_room(api.CreateRoomRequest(name=room, empty_timeout=120, departure_timeout=2))
    check("CreateRoom through LiveKit's RoomService; ListRooms lists it", room in await lk.rooms())

    host = Participant("host")
    observer = Participant("observer")
    try:
        t = await host.connect(lk.ws_url, lk.token("h1", room, can_publish=True, can_subscribe=True))
        check("a participant connects with a host-style token", True, f"{t:.2f} s")
        pub = await host.publish_silence()
        check("the host publishes a microphone track (silence)", bool(pub.sid), "track sid present")
        t = await observer.connect(lk.ws_url, lk.token("o1", room, can_publish=False, can_publish_data=False,
                                                       can_subscribe=True, hidden=True))
        check("a participant connects with an observer-style token (no publish, hidden)", True, f"{t:.2f} s")

        async def both_listed() -> bool:
            ps = await lk.participants(room)
            return "h1" in ps and "o1" in ps and len(ps["h1"].tracks) == 1
        listed = await wait_until(both_listed)
        ps = await lk.participants(room)
        check("ListParticipants lists both, the host with one audio track", listed,
              f"identities {sorted(ps)}; host tracks {[api.TrackType.Name(t.type) for t in ps['h1'].tracks] if 'h1' in ps else '-'}")
        if "o1" in ps:
            o = ps["o1"]
            check("ListParticipants: the observer cannot publish and is hidden",
                  not o.permission.can_publish and o.permission.hidden and not o.permission.can_publish_data, perm(o))
        if "h1" in ps:
            check("ListParticipants: the host can publish and is not hidden",
                  ps["h1"].permission.can_publish and not ps["h1"].permission.hidden, perm(ps["h1"]))

        async def observer_sees_host() -> bool:
            return "h1" in observer.sees()
        check("the observer sees the host", await wait_until(observer_sees_host), f"observer sees {sorted(observer.sees())}")
        heard = await observer.hears("h1")
        check("the observer receives the host's audio over WebRTC (in the namespace)", heard >= 50, f"{heard} frames")
        await asyncio.sleep(1.0)
        check("the host does not see the hidden observer", "o1" not in host.sees(), f"host sees {sorted(host.sees())}")
        await publish_denied(lk, observer, room, "o1")

        await refused(lk, "an expired token (exp 5 min ago)", lk.ws_url,
                      lk.token("late", room, ttl=datetime.timedelta(minutes=-5)), room, "late",
                      "401 Unauthorized - invalid token", "token is expired")
        other = f"not-created-{secrets.token_hex(4)}"
        await refused(lk, "a token for a room nobody created (auto_create off)", lk.ws_url,
                      lk.token("stray", other), other, "stray",
                      "404 Not Found", "requested room does not exist")
        await refused(lk, "a token signed with another secret", lk.ws_url,
                      lk.token("forged", room, secret=secrets.token_urlsafe(32)), room, "forged",
                      "401 Unauthorized - invalid token", "signature is invalid")
    finally:
        await observer.close()
        await host.close()
        try:
            await lk.api.room.delete_room(api.DeleteRoomRequest(room=room))
        except Exception:  # noqa: BLE001
            pass
    print(f"   (harness took {time.monotonic() - started:.1f} s)", flush=True)


# ------------------------------------------------------------------------------------------ convene


def convene_stubs(channel, credential: Optional[str]):
    """Stubs for the four services, with `authorization: Bearer <credential>` when one is given."""
    from convene import ConveneClient
    from convene.v1 import (provider_config_service_pb2_grpc, session_service_pb2_grpc,
                            token_service_pb2_grpc, credential_service_pb2_grpc)

    ch = channel
    if credential is not None:
        client = ConveneClient(channel, credential)
        ch = getattr(client, "channel", None) or client._channel  # the intercepted channel

    class S:
        sessions = session_service_pb2_grpc.SessionServiceStub(ch)
        tokens = token_service_pb2_grpc.TokenServiceStub(ch)
        providers = provider_config_service_pb2_grpc.ProviderConfigServiceStub(ch)
        credentials = credential_service_pb2_grpc.CredentialServiceStub(ch)
    return S


async def convene(lk: LiveKit) -> None:
    import grpc
    from google.protobuf import duration_pb2, timestamp_pb2
    from convene import error_details
    from convene.v1 import (provider_config_service_pb2 as pc, provider_pb2, session_pb2,
                            session_service_pb2 as ss, token_service_pb2 as ts)

    print("\n== convene: the newcomer flow through the Convene Python client", flush=True)
    started = time.monotonic()
    channel = grpc.insecure_channel(os.environ["CONVENE_TARGET"])
    tenant = convene_stubs(channel, os.environ["CONVENE_API_KEY"])
    anonymous = convene_stubs(channel, None)
    T = 10

    def rpc(what: str, call, request, **kw):
        """A Convene call that must succeed: FAIL (with code and reason) and None if not."""
        try:
            return call(request, timeout=T, **kw)
        except grpc.RpcError as e:
            d = error_details(e)
            check(what, False, f"{e.code().name} {d.reason or ''} {safe(e.details())}")
            return None

    # 1. LiveKit as the dev tenant's default provider.
    cfg = rpc("SetProviderConfig (LiveKit, default)", tenant.providers.SetProviderConfig, pc.SetProviderConfigRequest(
        config=pc.ProviderConfig(provider=provider_pb2.PROVIDER_KIND_LIVEKIT, default=True,
                                 livekit=pc.LiveKitConfig(url=lk.url, api_key=lk.key, api_secret=lk.secret))))
    if cfg is None:
        return
    check("SetProviderConfig stores LiveKit as the default; the answer names the stored secret, not its value",
          cfg.config.default and cfg.config.livekit.url == lk.url and not cfg.config.livekit.api_secret
          and "api_secret" in " ".join(cfg.config.stored_secrets) and lk.secret not in str(cfg),
          f"stored_secrets {list(cfg.config.stored_secrets)}")
    chk = rpc("CheckProviderCredentials (LiveKit)", tenant.providers.CheckProviderCredentials,
              pc.CheckProviderCredentialsRequest(provider=provider_pb2.PROVIDER_KIND_LIVEKIT))
    if chk is not None:
        check("CheckProviderCredentials: the real LiveKit accepts the stored key", chk.check.valid and chk.check.api_key_valid,
              f"valid={chk.check.valid} api_key_valid={chk.check.api_key_valid} detail={safe(chk.check.detail, 80)!r}")

    # 2. A session starting now: host, patient, observer.
    now = int(time.time())
    ref = f"lk-e2e-{secrets.token_hex(4)}"

    def create(ref_: str):
        return rpc("CreateSession", tenant.sessions.CreateSession, ss.CreateSessionRequest(
            request_id=f"req-{ref_}", external_ref=ref_, title="LiveKit e2e", media=session_pb2.MEDIA_TYPE_VIDEO,
            scheduled_start_time=timestamp_pb2.Timestamp(seconds=now),
            scheduled_end_time=timestamp_pb2.Timestamp(seconds=now + 1800),
            participants=[
                session_pb2.ParticipantSpec(user_id="dr", display_name="Dr", role=session_pb2.PARTICIPANT_ROLE_HOST),
                session_pb2.ParticipantSpec(user_id="pat", display_name="Pat", role=session_pb2.PARTICIPANT_ROLE_PARTICIPANT),
                session_pb2.ParticipantSpec(user_id="obs", display_name="Obs", role=session_pb2.PARTICIPANT_ROLE_OBSERVER),
            ]))

    created = create(ref)
    if created is None:
        return
    sid = created.session.id
    check("CreateSession (scheduled now; dr HOST, pat PARTICIPANT, obs OBSERVER)", sid.startswith("ses_"), sid)

    # 3. Join tokens for the host and the observer.
    dr = rpc("IssueJoinToken dr", tenant.tokens.IssueJoinToken, ts.IssueJoinTokenRequest(session_id=sid, user_id="dr"))
    if dr is None:
        return
    jt = dr.join_token
    room = jt.room_name
    check("IssueJoinToken dr: a LiveKit token for the host, with a ws:// URL of our LiveKit",
          jt.provider == provider_pb2.PROVIDER_KIND_LIVEKIT and jt.identity == "dr"
          and jt.role == session_pb2.PARTICIPANT_ROLE_HOST and bool(jt.token) and jt.connect_url.rstrip("/") == lk.ws_url
          and jt.expire_time.seconds > time.time(),
          f"room {room}, identity {jt.identity}, token length {len(jt.token)}, connect_url {jt.connect_url}, "
          f"expires in {jt.expire_time.seconds - int(time.time())} s")
    check("LiveKit's ListRooms lists the session's room: Convene created it on the first token",
          room in await lk.rooms(), f"room {room}")
    ob = rpc("IssueJoinToken obs", tenant.tokens.IssueJoinToken, ts.IssueJoinTokenRequest(session_id=sid, user_id="obs"))
    if ob is None:
        return
    check("IssueJoinToken obs: same room, role OBSERVER", ob.join_token.room_name == room
          and ob.join_token.role == session_pb2.PARTICIPANT_ROLE_OBSERVER and ob.join_token.identity == "obs",
          f"token length {len(ob.join_token.token)}")

    # 4. An access code for the patient, redeemed with no credential.
    ac = rpc("CreateAccessCode pat", tenant.tokens.CreateAccessCode, ts.CreateAccessCodeRequest(session_id=sid, user_id="pat"))
    if ac is None:
        return
    check("CreateAccessCode pat: a code shown once", bool(ac.code) and ac.access_code.user_id == "pat",
          f"code length {len(ac.code)}, id {ac.access_code.id}")
    red = rpc("RedeemAccessCode (no credential)", anonymous.tokens.RedeemAccessCode,
              ts.RedeemAccessCodeRequest(session_id=sid, code=ac.code))
    if red is None:
        return
    guest_cred = red.guest_credential.credential
    check("RedeemAccessCode: a guest credential and pat's LiveKit token for the same room",
          bool(guest_cred) and red.join_token.identity == "pat" and red.join_token.room_name == room
          and red.join_token.role == session_pb2.PARTICIPANT_ROLE_PARTICIPANT,
          f"credential length {len(guest_cred)}, token length {len(red.join_token.token)}")

    # 5. Real participants on Convene's tokens.
    host, guest, observer = Participant("dr"), Participant("pat"), Participant("obs")
    try:
        for p, j in ((host, jt), (observer, ob.join_token), (guest, red.join_token)):
            try:
                t = await p.connect(j.connect_url, j.token)
                check(f"{p.label} connects to LiveKit with Convene's token", True, f"{t:.2f} s")
            except Exception as e:  # noqa: BLE001
                check(f"{p.label} connects to LiveKit with Convene's token", False, f"{type(e).__name__}: {safe(e)}")
                return
            if p is host:
                try:
                    pub = await host.publish_silence()
                    check("dr publishes a microphone track", bool(pub.sid))
                except Exception as e:  # noqa: BLE001
                    check("dr publishes a microphone track", False, f"{type(e).__name__}: {safe(e)}")

        async def all_listed() -> bool:
            ps = await lk.participants(room)
            return {"dr", "pat", "obs"} <= set(ps) and len(ps["dr"].tracks) == 1
        ok = await wait_until(all_listed)
        ps = await lk.participants(room)
        check("LiveKit's ListParticipants lists dr, pat and obs; dr with its audio track", ok,
              f"identities {sorted(ps)}")
        if "obs" in ps:
            check("ListParticipants: obs cannot publish and is hidden",
                  not ps["obs"].permission.can_publish and ps["obs"].permission.hidden, perm(ps["obs"]))
        if "dr" in ps:
            check("ListParticipants: dr can publish", ps["dr"].permission.can_publish and not ps["dr"].permission.hidden,
                  perm(ps["dr"]))
        if "pat" in ps:
            check("ListParticipants: pat (the guest) can publish", ps["pat"].permission.can_publish, perm(ps["pat"]))

        async def dr_sees_pat() -> bool:
            return "pat" in host.sees()
        await wait_until(dr_sees_pat)
        await asyncio.sleep(1.0)
        check("dr sees pat but not the hidden obs", "pat" in host.sees() and "obs" not in host.sees(),
              f"dr sees {sorted(host.sees())}")
        heard = await guest.hears("dr")
        check("pat receives dr's audio over WebRTC", heard >= 50, f"{heard} frames")
        heard = await observer.hears("dr")
        check("obs receives dr's audio over WebRTC (it may subscribe)", heard >= 50, f"{heard} frames")
        await publish_denied(lk, observer, room, "obs")

        # 6. Tokens LiveKit must refuse.
        await refused(lk, "an expired token for the session's room (minted with the tenant's key, exp 5 min ago)",
                      lk.ws_url, lk.token("late-pat", room, ttl=datetime.timedelta(minutes=-5)), room, "late-pat",
                      "401 Unauthorized - invalid token", "token is expired")
        other = f"ses_{secrets.token_hex(8)}"
        await refused(lk, "a token for another room that Convene never created", lk.ws_url,
                      lk.token("dr", other), other, "dr", "404 Not Found",
                      "requested room does not exist")

        # A token for another session enters that session's room only.
        other_created = create(f"{ref}-b")
        if other_created is not None:
            b = rpc("IssueJoinToken pat (session B)", tenant.tokens.IssueJoinToken,
                    ts.IssueJoinTokenRequest(session_id=other_created.session.id, user_id="pat"))
            if b is not None:
                stray = Participant("pat-b")
                try:
                    await stray.connect(b.join_token.connect_url, b.join_token.token)
                    await asyncio.sleep(0.5)
                    # Had it entered A, LiveKit would have replaced A's pat (same identity): compare sids.
                    a_pat = (await lk.participants(room)).get("pat")
                    b_pat = (await lk.participants(b.join_token.room_name)).get("pat")
                    check("a token for session B enters B's room only: A's pat is still the guest, B's is the new one",
                          b.join_token.room_name != room and a_pat is not None and b_pat is not None
                          and a_pat.sid == guest.room.local_participant.sid
                          and b_pat.sid == stray.room.local_participant.sid,
                          f"B room {b.join_token.room_name}")
                except Exception as e:  # noqa: BLE001
                    check("a token for session B enters B's room only", False, f"{type(e).__name__}: {safe(e)}")
                finally:
                    await stray.close()

        # 7. The guest credential: itself yes, someone else no.
        guest_stubs = convene_stubs(channel, guest_cred)
        own = rpc("IssueJoinToken pat with the guest credential", guest_stubs.tokens.IssueJoinToken,
                  ts.IssueJoinTokenRequest(session_id=sid, user_id="pat"))
        if own is not None:
            check("with the guest credential, IssueJoinToken for pat itself is OK",
                  own.join_token.identity == "pat" and own.join_token.room_name == room)
        try:
            guest_stubs.tokens.IssueJoinToken(ts.IssueJoinTokenRequest(session_id=sid, user_id="dr"), timeout=T)
            check("with the guest credential, IssueJoinToken for dr is PERMISSION_DENIED", False, "it was issued")
        except grpc.RpcError as e:
            d = error_details(e)
            check("with the guest credential, IssueJoinToken for dr is PERMISSION_DENIED (ACTING_FOR_OTHER_USER)",
                  e.code() == grpc.StatusCode.PERMISSION_DENIED and d.reason == "ACTING_FOR_OTHER_USER",
                  f"{e.code().name} {d.reason}")

        # 8. The audit trail names the tokens, never carries them.
        try:
            events = tenant.sessions.ListSessionEvents(ss.ListSessionEventsRequest(session_id=sid, page_size=100), timeout=T)
            kinds = [session_pb2.SessionEventType.Name(e.type) for e in events.events]
            issued = kinds.count("SESSION_EVENT_TYPE_TOKEN_ISSUED")
            text = str(events)
            leaked = any(tok and tok in text for tok in (jt.token, ob.join_token.token, red.join_token.token, guest_cred, ac.code))
            check("the session's events record the room and each token issued, and carry no token, credential or code",
                  "SESSION_EVENT_TYPE_PROVIDER_ROOM_CREATED" in kinds and issued >= 4 and not leaked,
                  f"{issued} TOKEN_ISSUED, room created: {'SESSION_EVENT_TYPE_PROVIDER_ROOM_CREATED' in kinds}")
        except grpc.RpcError as e:
            check("ListSessionEvents", False, f"{e.code().name} {safe(e.details())}")
        # 9. The server's log carries none of the secrets it handed out or was given.
        log_path = os.environ.get("CONVENE_LOG")
        if log_path and os.path.exists(log_path):
            text = open(log_path, encoding="utf-8", errors="replace").read()
            secrets_out = {"LiveKit secret": lk.secret, "dr's token": jt.token, "obs's token": ob.join_token.token,
                           "pat's token": red.join_token.token, "guest credential": guest_cred,
                           "access code": ac.code, "access code (no dash)": ac.code.replace("-", "")}
            found = [name for name, value in secrets_out.items() if value and value.lower() in text.lower()]
            # JWTs and the LiveKit secret never reach the file (run.sh masks them): count what was masked.
            masked = {"jwt": 0, "api_key": 0, "literal": 0}
            masked_path = os.environ.get("CONVENE_LOG_MASKED")
            if masked_path and os.path.exists(masked_path):
                import json
                masked = json.load(open(masked_path))
            check("Convene printed no token, credential, access code or provider secret (only the dev key, once)",
                  not found and masked["jwt"] == 0 and masked["literal"] == 0 and masked["api_key"] == 1,
                  f"{len(text.splitlines())} lines; masked: {masked['jwt']} JWTs, {masked['literal']} secrets, "
                  f"{masked['api_key']} API key" + (f"; found: {', '.join(found)}" if found else ""))
    finally:
        for p in (guest, observer, host):
            await p.close()
        channel.close()
    print(f"   (convene part took {time.monotonic() - started:.1f} s)", flush=True)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["harness", "convene", "all"], default="all")
    args = parser.parse_args()
    lk = LiveKit(os.environ["LK_URL"], os.environ["LK_API_KEY"], os.environ["LK_API_SECRET"])
    try:
        if args.part in ("harness", "all"):
            await harness(lk)
        if args.part in ("convene", "all"):
            await convene(lk)
    except Exception as e:  # noqa: BLE001 - an unexpected error is a failure, not a crash without a count
        check("scenario ran to the end", False, f"{type(e).__name__}: {safe(e, 300)}")
        traceback.print_exc(file=sys.stderr)
    finally:
        await lk.close()
    print(f"scenario: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
