"""The auth API: register, login, me, profile, password, logout."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from storefleet.api.deps import ClientIP, ControlSession, CurrentCaller, RuntimeDep
from storefleet.control.accounts import service
from storefleet.control.accounts.schemas import (
    AuthOut,
    LoginIn,
    PasswordChangeIn,
    ProfilePatch,
    RegisterIn,
    UserOut,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


def _auth_out(runtime: RuntimeDep, token: str, account: object) -> AuthOut:
    return AuthOut(
        token=token,
        expires_in=runtime.settings.token_ttl_seconds,
        user=UserOut.model_validate(account),
    )


@router.post("/register", status_code=status.HTTP_201_CREATED, response_model=AuthOut)
async def register(
    body: RegisterIn, runtime: RuntimeDep, session: ControlSession, ip: ClientIP
) -> AuthOut:
    account = await service.create_account(
        session,
        email=str(body.email),
        password=body.password,
        first_name=body.first_name,
        last_name=body.last_name,
        client_ip=ip,
    )
    return _auth_out(runtime, service.issue_token(runtime.tokens, account), account)


@router.post("/login", response_model=AuthOut)
async def login(
    body: LoginIn, runtime: RuntimeDep, session: ControlSession, ip: ClientIP
) -> AuthOut:
    account = await service.authenticate(
        session,
        email=body.email,
        password=body.password,
        throttle=runtime.login_throttle,
        client_ip=ip,
    )
    return _auth_out(runtime, service.issue_token(runtime.tokens, account), account)


@router.get("/me", response_model=UserOut)
async def me(caller: CurrentCaller) -> UserOut:
    return UserOut.model_validate(caller.account)


@router.patch("/profile", response_model=UserOut)
async def update_profile(
    body: ProfilePatch, caller: CurrentCaller, session: ControlSession, ip: ClientIP
) -> UserOut:
    account = await service.update_profile(session, caller.account, body.changes(), client_ip=ip)
    return UserOut.model_validate(account)


@router.post("/password", response_model=AuthOut)
async def change_password(
    body: PasswordChangeIn,
    caller: CurrentCaller,
    runtime: RuntimeDep,
    session: ControlSession,
    ip: ClientIP,
) -> AuthOut:
    """Change the password; earlier tokens stop working and a fresh one is returned."""
    account = await service.change_password(
        session,
        caller.account,
        current_password=body.current_password,
        new_password=body.new_password,
        client_ip=ip,
    )
    return _auth_out(runtime, service.issue_token(runtime.tokens, account), account)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(caller: CurrentCaller, session: ControlSession) -> Response:
    await service.revoke_token(session, caller.account, caller.claims)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
