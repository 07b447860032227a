"""The config, mapped to the small settings values each driver takes.

Drivers never read :class:`switch.config.Config`; the app builds their settings here,
once, at start.
"""

from __future__ import annotations

from drivers.gsm import ModemSettings
from drivers.mqtt import MqttSettings
from drivers.sip import (
    AgentPhone,
    EdgeSettings,
    RtpengineSettings,
    TrunkSettings,
    WebRtcSettings,
)
from switch.config import (
    AgentConfig,
    ModemConfig,
    MqttConfig,
    SipConfig,
    TrunkConfig,
    WebRtcConfig,
)


def edge_settings(sip: SipConfig) -> EdgeSettings:
    return EdgeSettings(
        listen=sip.listen,
        workers=sip.workers,
        kamailio=sip.kamailio,
        worker_port_base=sip.worker_port_base,
        rtp_port_base=sip.rtp_port_base,
        tls_listen=sip.tls_listen,
        tls_cert=sip.tls_cert,
        tls_key=sip.tls_key,
        ws_listen=sip.ws_listen,
        wss_listen=sip.wss_listen,
        shm_mb=sip.shm_mb,
    )


def webrtc_settings(webrtc: WebRtcConfig, secret: str) -> WebRtcSettings:
    """``secret``: the browser credentials' key (kept in the SIP run directory)."""
    return WebRtcSettings(
        rtpengine=RtpengineSettings(
            binary=webrtc.rtpengine,
            ng_port=webrtc.ng_port,
            port_min=webrtc.port_min,
            port_max=webrtc.port_max,
            interface=webrtc.interface,
            threads=webrtc.threads,
        ),
        secret=secret,
        widget_number=webrtc.widget_number,
    )


def trunk_settings(trunk: TrunkConfig) -> TrunkSettings:
    return TrunkSettings(
        id=trunk.id,
        host=trunk.host,
        port=trunk.port,
        transport=trunk.transport,
        dids=tuple(trunk.dids),
        username=trunk.username,
        password=trunk.password,
        register_=trunk.register_,
        number_format=trunk.number_format,
        prefixes=tuple(trunk.prefixes),
    )


def agent_phone(agent: AgentConfig) -> AgentPhone:
    return AgentPhone(id=agent.id, sip_user=agent.sip_user, sip_password=agent.sip_password)


def modem_settings(modem: ModemConfig, port: str | None = None) -> ModemSettings:
    """``port`` overrides the configured one (a simulated modem's pty)."""
    return ModemSettings(
        id=modem.id,
        port=port if port is not None else modem.port,
        baudrate=modem.baudrate,
        pin=modem.pin,
        profile=modem.profile,
        smsc=modem.smsc,
    )


def mqtt_settings(mqtt: MqttConfig) -> MqttSettings:
    return MqttSettings(
        host=mqtt.host,
        port=mqtt.port,
        box_id=mqtt.box_id,
        tls=mqtt.tls,
        tls_ca=mqtt.tls_ca,
        username=mqtt.username,
        password=mqtt.password,
        keepalive=mqtt.keepalive,
        queue_max=mqtt.queue_max,
    )
